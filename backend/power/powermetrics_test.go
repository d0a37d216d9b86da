package power

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// feed runs a parser over data in chunks of size n (0: all at once).
func feedPlist(t *testing.T, data []byte, n int) ([]PowermetricsRecord, *PlistParser) {
	t.Helper()
	var p PlistParser
	var out []PowermetricsRecord
	if n == 0 {
		n = len(data)
	}
	for len(data) > 0 {
		k := min(n, len(data))
		recs, err := p.Write(data[:k])
		if err != nil {
			t.Fatalf("write: %v", err)
		}
		out = append(out, recs...)
		data = data[k:]
	}
	return out, &p
}

func TestPlistM1Capture(t *testing.T) {
	recs, p := feedPlist(t, readFixture(t, "testdata/powermetrics/m1-plist-1.plist"), 0)
	if len(recs) != 1 || p.Pending() {
		t.Fatalf("got %d records (pending %v), want 1", len(recs), p.Pending())
	}
	r := recs[0]
	if r.ElapsedNs != 2019178750 {
		t.Errorf("elapsed = %d, want elapsed_ns 2019178750", r.ElapsedNs)
	}
	want := map[Domain]float64{DomainCPU: 44.0773, DomainGPU: 15.3528, DomainANE: 0, DomainPackage: 59.4301}
	if len(r.Domains) != len(want) {
		t.Fatalf("domains = %v, want %v (no dram on macOS 13)", r.Domains, want)
	}
	for d, mw := range want {
		got := r.Domains[d]
		if !got.HasPower || got.HasEnergy || math.Abs(got.PowerMW-mw) > 1e-9 {
			t.Errorf("%s = %+v, want %v mW from *_power (not the rounded *_energy)", d, got, mw)
		}
	}
	if !r.HasGPUFreq || r.GPUFreqMHz != 714.836 {
		t.Errorf("gpu freq = %v MHz (has %v), want 714.836: gpu.freq_hz is MHz", r.GPUFreqMHz, r.HasGPUFreq)
	}
	// The rounded counter agrees: 89 mJ over 2.019 s ≈ 44.08 mW.
	if e := r.Domains[DomainCPU].Energy(r.ElapsedNs); math.Abs(e-89) > 0.5 {
		t.Errorf("cpu energy = %v mJ, want ≈ 89 (cpu_energy)", e)
	}
}

// stream builds a NUL-separated plist stream (the NUL starts the next
// document, as powermetrics writes it).
func stream(docs ...string) []byte {
	var b bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(d)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func plistDoc(body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
` + body + `
</dict>
</plist>`
}

// gpuOnly is what `-s gpu_power` gives: no processor dict, and macOS 14/15's
// duplicate keys inside gpu.
var gpuOnly = plistDoc(`<key>elapsed_ns</key><integer>1000000000</integer>
<key>gpu</key><dict>
  <key>freq_hz</key><real>1398</real>
  <key>idle_ns</key><integer>10</integer>
  <key>idle_ratio</key><real>0.5</real>
  <key>idle_ns</key><integer>11</integer>
  <key>idle_ratio</key><real>0.6</real>
  <key>gpu_energy</key><integer>250</integer>
</dict>`)

// macOS 12: energies, package_energy and dram_energy; no *_power keys.
var monterey = plistDoc(`<key>elapsed_ns</key><integer>500000000</integer>
<key>processor</key><dict>
  <key>cpu_energy</key><integer>400</integer>
  <key>gpu_energy</key><integer>50</integer>
  <key>ane_energy</key><integer>0</integer>
  <key>dram_energy</key><integer>100</integer>
  <key>package_energy</key><integer>700</integer>
</dict>`)

func TestPlistVariants(t *testing.T) {
	recs, _ := feedPlist(t, stream(gpuOnly, monterey), 0)
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2", len(recs))
	}
	g := recs[0]
	if _, ok := g.Domains[DomainCPU]; ok {
		t.Error("gpu-only sampler: cpu must be absent, not 0")
	}
	if _, ok := g.Domains[DomainANE]; ok {
		t.Error("gpu-only sampler: ane must be absent, not 0")
	}
	if got := g.Domains[DomainGPU]; !got.HasEnergy || got.EnergyMJ != 250 || math.Abs(got.PowerMW-250) > 1e-9 {
		t.Errorf("gpu from gpu.gpu_energy = %+v, want 250 mJ over 1 s", got)
	}
	if g.GPUFreqMHz != 1398 {
		t.Errorf("gpu freq = %v, want 1398 MHz", g.GPUFreqMHz)
	}
	m := recs[1]
	want := map[Domain]float64{DomainCPU: 400, DomainGPU: 50, DomainANE: 0, DomainDRAM: 100, DomainPackage: 700}
	if len(m.Domains) != len(want) {
		t.Fatalf("macOS 12 domains = %v", m.Domains)
	}
	for d, mj := range want {
		if got := m.Domains[d]; !got.HasEnergy || got.EnergyMJ != mj || math.Abs(got.PowerMW-mj*2) > 1e-9 {
			t.Errorf("macOS 12 %s = %+v, want %v mJ over 0.5 s", d, got, mj)
		}
	}
}

func TestPlistByteAtATime(t *testing.T) {
	m1 := string(readFixture(t, "testdata/powermetrics/m1-plist-1.plist"))
	data := stream(m1, gpuOnly, monterey, m1)
	whole, _ := feedPlist(t, data, 0)
	if len(whole) != 4 {
		t.Fatalf("whole stream: %d records, want 4", len(whole))
	}
	for _, n := range []int{1, 7, 4096} {
		got, p := feedPlist(t, data, n)
		if !reflect.DeepEqual(got, whole) {
			t.Fatalf("chunks of %d: records differ from the whole-stream parse", n)
		}
		if p.Pending() {
			t.Fatalf("chunks of %d: data left over", n)
		}
	}
}

func TestPlistBadAndTruncatedDocuments(t *testing.T) {
	noElapsed := plistDoc(`<key>processor</key><dict><key>cpu_power</key><real>1</real></dict>`)
	broken := "<?xml version=\"1.0\"?><plist><dict><key>x</key><integer>zz</integer></dict></plist>"
	data := stream(gpuOnly, noElapsed, broken, monterey)
	var p PlistParser
	recs, err := p.Write(data)
	if len(recs) != 2 {
		t.Fatalf("good documents around bad ones: %d records, want 2", len(recs))
	}
	if err == nil || !strings.Contains(err.Error(), "2 document(s) skipped") {
		t.Fatalf("bad documents not reported: %v", err)
	}
	// A document cut off at EOF stays pending.
	half := gpuOnly[:len(gpuOnly)/2]
	recs, err = p.Write([]byte("\x00" + half))
	if len(recs) != 0 || err != nil || !p.Pending() {
		t.Fatalf("truncated document: %d records, err %v, pending %v", len(recs), err, p.Pending())
	}
}

func feedText(t *testing.T, data []byte, n int) []PowermetricsRecord {
	t.Helper()
	var p TextParser
	var out []PowermetricsRecord
	if n == 0 {
		n = len(data)
	}
	for len(data) > 0 {
		k := min(n, len(data))
		recs, err := p.Write(data[:k])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
		data = data[k:]
	}
	recs, err := p.Flush()
	if err != nil {
		t.Fatal(err)
	}
	return append(out, recs...)
}

func TestTextM1Monterey(t *testing.T) {
	data := readFixture(t, "testdata/powermetrics/m1-text-1.txt")
	recs := feedText(t, data, 0)
	if len(recs) != 10 {
		t.Fatalf("got %d samples, want the capture's 10", len(recs))
	}
	first := recs[0]
	if first.ElapsedNs != 104_510_000 {
		t.Errorf("elapsed = %d ns, want 104.51 ms", first.ElapsedNs)
	}
	// Cluster lines (E-Cluster Power: 105 mW) are not domains.
	want := map[Domain]float64{DomainANE: 0, DomainDRAM: 220, DomainCPU: 947, DomainGPU: 153, DomainPackage: 1473}
	if !reflect.DeepEqual(mwOf(first), want) {
		t.Errorf("first sample = %v, want %v", mwOf(first), want)
	}
	if got := mwOf(recs[1])[DomainPackage]; got != 773 {
		t.Errorf("second sample package = %v, want 773", got)
	}
	if !reflect.DeepEqual(feedText(t, data, 1), recs) {
		t.Fatal("one byte at a time gives different samples")
	}
}

func TestTextM4MaxGPUPowerTwice(t *testing.T) {
	data := readFixture(t, "testdata/powermetrics/m4max-text-1.txt")
	recs := feedText(t, data, 0)
	if len(recs) != 1 {
		t.Fatalf("got %d samples, want 1", len(recs))
	}
	want := map[Domain]float64{DomainCPU: 954, DomainGPU: 28, DomainANE: 0, DomainPackage: 983}
	if !reflect.DeepEqual(mwOf(recs[0]), want) {
		t.Fatalf("sample = %v, want %v (GPU Power printed twice is one value)", mwOf(recs[0]), want)
	}
	if recs[0].ElapsedNs != 5_021_960_000 {
		t.Errorf("elapsed = %d", recs[0].ElapsedNs)
	}
	if !reflect.DeepEqual(feedText(t, data, 1), recs) {
		t.Fatal("one byte at a time gives different samples")
	}
}

func TestTextBadPowerLine(t *testing.T) {
	var p TextParser
	_, err := p.Write([]byte("*** Sampled system activity (x) (100ms elapsed) ***\nCPU Power: lots mW\n"))
	if err == nil {
		t.Fatal("a malformed power line gave no error")
	}
}

func mwOf(r PowermetricsRecord) map[Domain]float64 {
	out := map[Domain]float64{}
	for d, rd := range r.Domains {
		out[d] = rd.PowerMW
	}
	return out
}

func TestPowermetricsStreamSource(t *testing.T) {
	m1 := string(readFixture(t, "testdata/powermetrics/m1-plist-1.plist"))
	pr, pw := io.Pipe()
	var now int64 = 10e9
	src := NewPowermetricsFromStream(pr, Options{Now: func() int64 { return now }})
	s := NewSampler(src, SamplerOptions{})
	sub := s.Subscribe(10)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	go func() {
		// Dribble the stream in small writes like a pipe would.
		data := stream(m1, monterey)
		for len(data) > 0 {
			k := min(100, len(data))
			pw.Write(data[:k])
			data = data[k:]
		}
		pw.Close()
	}()
	var got []Sample
	for smp := range sub.C() {
		got = append(got, smp)
	}
	if len(got) != 2 {
		t.Fatalf("got %d samples, want 2", len(got))
	}
	if got[0].T1-got[0].T0 != 2019178750 || got[0].Kind != KindSampling || got[0].Source != "powermetrics" {
		t.Fatalf("first sample = %+v: its interval must be elapsed_ns ending at receipt", got[0])
	}
	<-s.Done()
	if !errors.Is(s.Err(), ErrSourceDead) {
		t.Fatalf("end of stream: err = %v, want a dead source", s.Err())
	}
	if _, err := src.Open(context.Background()); err == nil {
		t.Fatal("a stream source opened twice")
	}
}

func TestPowermetricsArgvIsPinned(t *testing.T) {
	args := strings.Join(PowermetricsArgs(1000), " ")
	if args != "-f plist -b 1 --handle-invalid-values -i 1000 -s cpu_power,gpu_power,ane_power" {
		t.Fatalf("argv = %q", args)
	}
	for _, a := range PowermetricsArgs(250) {
		if a == "-o" || a == "-u" || a == "--output-file" {
			t.Fatal("powermetrics must never write a file")
		}
	}
	line := PowermetricsSudoersLine("alice", PowermetricsOptions{})
	// sudoers reads a bare comma as a list separator, so it must be escaped
	// for the rule to pin this one command.
	if line != `alice ALL = (root) NOPASSWD: /usr/bin/powermetrics -f plist -b 1 --handle-invalid-values -i 1000 -s cpu_power\,gpu_power\,ane_power` {
		t.Fatalf("sudoers line = %q", line)
	}
}

type fakeHelper struct {
	avail Availability
	data  []byte
	gotMs int
}

func (h *fakeHelper) Availability() Availability { return h.avail }
func (h *fakeHelper) Stream(ctx context.Context, ms int) (io.ReadCloser, error) {
	h.gotMs = ms
	return io.NopCloser(bytes.NewReader(h.data)), nil
}

func TestPowermetricsNotOnLinux(t *testing.T) {
	if runtime.GOOS == "darwin" {
		t.Skip("this checks the non-macOS answer")
	}
	a := NewPowermetrics(Options{Powermetrics: PowermetricsOptions{Helper: &fakeHelper{avail: available()}}}).Availability()
	if a.Available || !strings.Contains(a.Reason, "macOS") {
		t.Fatalf("powermetrics on this OS: %+v", a)
	}
}

func TestTextGPUPowerKeepsProcessorValue(t *testing.T) {
	in := "*** Sampled system activity (x) (1000.00ms elapsed) ***\n" +
		"**** Processor usage ****\nCPU Power: 100 mW\nGPU Power: 28 mW\nANE Power: 0 mW\n" +
		"**** GPU usage ****\nGPU HW active frequency: 338 MHz\nGPU Power: 30 mW\n"
	recs := feedText(t, []byte(in), 0)
	if len(recs) != 1 || recs[0].Domains[DomainGPU].PowerMW != 28 {
		t.Fatalf("records = %+v, want gpu 28 mW from the processor section (never 58)", recs)
	}
}

// The sudo path is stopped with SIGTERM, which sudo relays, and SIGKILL
// only after a grace period: a powermetrics that exits on SIGTERM is never
// killed, one that ignores it is killed once the grace period is over.
func TestStopSudoTermsThenKills(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no signals")
	}
	const grace = 400 * time.Millisecond
	for _, c := range []struct {
		script   string
		wantSig  syscall.Signal
		minDelay time.Duration
	}{
		{"exec sleep 30", syscall.SIGTERM, 0},
		{"trap '' TERM; exec sleep 30", syscall.SIGKILL, grace},
	} {
		cmd := exec.Command("/bin/sh", "-c", c.script)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // let sh install its trap and exec
		start := time.Now()
		stopSudo(cmd, func() { out.Close() }, grace)
		took := time.Since(start)
		ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != c.wantSig {
			t.Errorf("%q: ended with %v, want signal %v", c.script, cmd.ProcessState, c.wantSig)
		}
		if took < c.minDelay || took > grace+2*time.Second {
			t.Errorf("%q: stop took %v", c.script, took)
		}
	}
}
