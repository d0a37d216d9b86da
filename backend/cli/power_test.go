package cli

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const powerTestdata = "../power/testdata"

func TestPowerParsePlistJSON(t *testing.T) {
	out, stderr, code := runPowerCLI(t, "power", "parse", "--format", "powermetrics-plist", filepath.Join(powerTestdata, "powermetrics/m1-plist-1.plist"), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// Exactly the documented shape: {"samples": [{"t0_ns", "t1_ns", "domains": {d: {"power_w", "energy_j"}}}]}.
	var raw map[string][]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil || len(raw) != 1 {
		t.Fatalf("top level: %v %v", err, raw)
	}
	samples := raw["samples"]
	if len(samples) != 1 {
		t.Fatalf("%d samples, want 1", len(samples))
	}
	if len(samples[0]) != 3 {
		t.Errorf("sample keys = %v, want t0_ns, t1_ns, domains", samples[0])
	}
	var t0, t1 int64
	json.Unmarshal(samples[0]["t0_ns"], &t0)
	json.Unmarshal(samples[0]["t1_ns"], &t1)
	if t0 != 0 || t1 != 2019178750 {
		t.Errorf("interval = [%d, %d], want [0, elapsed_ns 2019178750]", t0, t1)
	}
	var doms map[string]map[string]float64
	if err := json.Unmarshal(samples[0]["domains"], &doms); err != nil {
		t.Fatal(err)
	}
	if _, ok := doms["dram"]; ok {
		t.Error("dram present; macOS 13 does not report it, so it must be left out")
	}
	cpu := doms["cpu"]
	if len(cpu) != 2 || math.Abs(cpu["power_w"]-0.0440773) > 1e-9 || math.Abs(cpu["energy_j"]-0.0440773*2.01917875) > 1e-9 {
		t.Errorf("cpu = %v", cpu)
	}
}

func TestPowerParseTextTable(t *testing.T) {
	out, stderr, code := runPowerCLI(t, "power", "parse", "--format", "powermetrics-text", filepath.Join(powerTestdata, "powermetrics/m4max-text-1.txt"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("output:\n%s", out)
	}
	// cpu 0.954 W, gpu 0.028 W (printed twice, counted once), ane 0, no dram, package 0.983.
	fields := strings.Fields(lines[2])
	want := []string{"0.000", "5.022", "0.954", "0.028", "0.000", "-", "0.983"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Fatalf("row = %v, want %v", fields, want)
	}
}

func TestPowerParseErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"power", "parse", "--format", "xml", "f"}, 2},
		{[]string{"power", "parse", "--format", "powermetrics-text"}, 2},
		{[]string{"power", "parse", "--format", "powermetrics-text", "/nonexistent/file"}, 1},
		// Text is not a plist: no samples, a clear error.
		{[]string{"power", "parse", "--format", "powermetrics-plist", filepath.Join(powerTestdata, "powermetrics/m1-text-1.txt")}, 1},
		{[]string{"power"}, 2},
		{[]string{"power", "graph"}, 2},
	}
	for _, c := range cases {
		if _, _, code := runPowerCLI(t, c.args...); code != c.code {
			t.Errorf("%v: exit %d, want %d", c.args, code, c.code)
		}
	}
	// A truncated plist keeps its whole documents and warns about the rest.
	data, _ := os.ReadFile(filepath.Join(powerTestdata, "powermetrics/m1-plist-1.plist"))
	path := filepath.Join(t.TempDir(), "cut.plist")
	os.WriteFile(path, append(append(data, 0), data[:len(data)/2]...), 0o644)
	out, stderr, code := runPowerCLI(t, "power", "parse", "--format", "powermetrics-plist", path, "--json")
	if code != 0 || !strings.Contains(stderr, "partial sample is dropped") || strings.Count(out, "t0_ns") != 1 {
		t.Fatalf("truncated plist: exit %d, stderr %q, out %s", code, stderr, out)
	}
}

func TestPowerSampleReplayJSON(t *testing.T) {
	out, stderr, code := runPowerCLI(t, "power", "sample", "--source", "replay:"+filepath.Join(powerTestdata, "replay/demo.jsonl"),
		"--interval", "20ms", "--duration", "200ms", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	n := 0
	for sc.Scan() {
		var s jsonSample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		n++
		// The trace holds 4 W cpu and 10 W gpu for its first 500 ms.
		if math.Abs(s.Domains["cpu"].PowerW-4) > 1e-9 || math.Abs(s.Domains["gpu"].PowerW-10) > 1e-9 {
			t.Fatalf("sample %+v, want cpu 4 W, gpu 10 W", s)
		}
		if s.Kind != "measured_sampling" || !strings.HasPrefix(s.Source, "replay:") {
			t.Fatalf("sample label = %s %s", s.Source, s.Kind)
		}
	}
	if n < 3 {
		t.Fatalf("%d samples in 200 ms at 20 ms, want several", n)
	}
}

func TestPowerSampleRAPLFakeTreeText(t *testing.T) {
	root := powerTestRAPLTree(t, "1000")
	out, stderr, code := runPowerCLI(t, "power", "sample", "--source", "rapl", "--sysfs-root", root, "--interval", "10ms", "--duration", "60ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The fake counter does not move: 0 W measured is a real measurement.
	if !strings.Contains(out, "rapl [measured_counter]") || !strings.Contains(out, "cpu 0.00 W") || !strings.Contains(out, "Energy over") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestPowerSampleUnavailableSource(t *testing.T) {
	_, stderr, code := runPowerCLI(t, "power", "sample", "--source", "rapl", "--sysfs-root", t.TempDir(), "--duration", "10ms")
	if code != 1 || !strings.Contains(stderr, "fix:") {
		t.Fatalf("exit %d, stderr %q: want the reason and the fix", code, stderr)
	}
	if _, _, code := runPowerCLI(t, "power", "sample", "--interval", "0s"); code != 2 {
		t.Fatalf("zero interval: exit %d, want 2", code)
	}
}
