package power

import (
	"bufio"
	"context"
	"errors"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
)

// m1UltraChannels reads the real M1 Ultra "Energy Model" list (name TAB
// unit) and gives every channel the same made-up delta of 1000 units.
func m1UltraChannels(t *testing.T) []IOReportChannel {
	t.Helper()
	f, err := os.Open("testdata/ioreport/m1ultra-energy-model-channels.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []IOReportChannel
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		name, unit, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("bad fixture line %q", line)
		}
		out = append(out, IOReportChannel{Name: name, Unit: unit, Value: 1000})
	}
	if len(out) != 321 {
		t.Fatalf("fixture has %d channels, want 321", len(out))
	}
	return out
}

func TestIOReportM1UltraSelection(t *testing.T) {
	chans := m1UltraChannels(t)
	selected := map[Domain][]string{}
	for _, c := range chans {
		if d, ok := ioreportDomain(c.Name); ok {
			selected[d] = append(selected[d], c.Name)
		}
	}
	want := map[Domain][]string{
		DomainCPU:  {"DIE_0_CPU Energy", "DIE_1_CPU Energy"},
		DomainGPU:  {"GPU Energy"},
		DomainANE:  {"ANE0_0", "ANE0_1"},
		DomainDRAM: {"DRAM0_0", "DRAM0_1"},
	}
	for d, names := range want {
		got := selected[d]
		sort.Strings(got)
		if strings.Join(got, "|") != strings.Join(names, "|") {
			t.Errorf("%s channels = %q, want %q", d, got, names)
		}
	}
	if len(selected) != len(want) {
		t.Errorf("selected domains %v, want only cpu, gpu, ane, dram", selected)
	}

	energy, problems := ioreportEnergy(chans)
	if len(problems) != 0 {
		t.Fatalf("problems on a clean delta: %v", problems)
	}
	// cpu: two dies × 1000 mJ; gpu: 1000 nJ = 0.001 mJ (not GPU0_0's mJ);
	// ane and dram: two × 1000 mJ.
	wantMJ := map[Domain]float64{DomainCPU: 2000, DomainGPU: 0.001, DomainANE: 2000, DomainDRAM: 2000}
	for d, mj := range wantMJ {
		if math.Abs(energy[d]-mj) > 1e-12 {
			t.Errorf("%s = %v mJ, want %v", d, energy[d], mj)
		}
	}
}

func TestIOReportNames(t *testing.T) {
	for name, want := range map[string]Domain{
		"CPU Energy": DomainCPU, "DIE_3_CPU Energy": DomainCPU, "GPU Energy": DomainGPU,
		"ANE": DomainANE, "ANE0": DomainANE, "ANE0_1": DomainANE,
		"DRAM": DomainDRAM, "DRAM0": DomainDRAM, "DRAM12_3": DomainDRAM,
		"GPU0_0": "", "GPU SRAM0_0": "", "EACC_CPU": "", "DIE_0_EACC_CPU": "", "PCPUDTL0": "",
		"ANEX": "", "ANE0_": "", "DRAM_0": "", "DIE_x_CPU Energy": "", "apciec0 Energy": "",
		"PACC0_CPU0": "", "CPU Energy ": "",
	} {
		got, ok := ioreportDomain(name)
		if ok != (want != "") || got != want {
			t.Errorf("ioreportDomain(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}

func TestIOReportUnitsResetsAndRollup(t *testing.T) {
	chans := []IOReportChannel{
		{"CPU Energy", "mJ", 500},
		{"DIE_0_CPU Energy", "mJ", 300}, // inside the roll-up: not added
		{"GPU Energy", "nJ", 2_000_000},
		{"ANE0", "uJ", 4000},
		{"DRAM0", " mJ ", -5}, // reset
		{"DRAM1", "mJ", 10},
	}
	energy, problems := ioreportEnergy(chans)
	if energy[DomainCPU] != 500 || energy[DomainGPU] != 2 || energy[DomainANE] != 4 {
		t.Errorf("energy = %v, want cpu 500, gpu 2, ane 4 mJ", energy)
	}
	if _, ok := energy[DomainDRAM]; ok {
		t.Error("dram present although one of its channels reset: it must be absent for the interval")
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "counter reset") {
		t.Errorf("problems = %v", problems)
	}
	energy, problems = ioreportEnergy([]IOReportChannel{{"GPU Energy", "kWh", 1}})
	if len(energy) != 0 || len(problems) != 1 {
		t.Errorf("unknown unit: energy %v problems %v", energy, problems)
	}
	smp := ioreportSample(0, 500_000_000, []IOReportChannel{{"CPU Energy", "mJ", 1500}})
	if r := smp.Domains[DomainCPU]; r.EnergyMJ != 1500 || r.PowerMW != 3000 || smp.Kind != KindCounter {
		t.Errorf("sample = %+v", smp)
	}
}

// fakeIOReport is a subscription to one "CPU Energy" channel drawing a
// constant 10 W: the counter at time t (ns) is t/1e5 mJ. fail makes the
// next sample fail to be taken (the baseline stays), lose the next delta
// (the baseline moves).
type fakeIOReport struct {
	base     int64 // counter at the baseline, mJ
	failNext string
	closed   bool
}

func (f *fakeIOReport) delta(now func() int64) ([]IOReportChannel, int64, bool, error) {
	at := now()
	counter := at / 100_000 // 10 W = 10 mJ per ms
	switch f.failNext {
	case "sample":
		f.failNext = ""
		return nil, at, false, errors.New("IOReportCreateSamples failed")
	case "delta":
		f.failNext = ""
		f.base = counter
		return nil, at, true, errors.New("IOReportCreateSamplesDelta failed")
	}
	d := counter - f.base
	f.base = counter
	return []IOReportChannel{{Name: "CPU Energy", Unit: "mJ", Value: d}}, at, true, nil
}
func (f *fakeIOReport) close() { f.closed = true }

// The review found that a failed sample advanced the window's start while
// the baseline stayed, so the next reading doubled its power.
func TestIOReportFailedSampleKeepsTheWindow(t *testing.T) {
	var now int64
	clock := func() int64 { return now }
	fake := &fakeIOReport{}
	src := &IOReport{now: clock, probes: NewProbes(),
		list: func() ([]string, Availability) { return []string{"CPU Energy"}, available() },
		open: func() (ioreportDeltas, error) { return fake, nil }}
	rd, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	const s = int64(1e9)
	steps := []struct {
		at      int64
		fail    string
		wantErr bool
		t0, t1  int64
	}{
		{1 * s, "", false, 0, 1 * s},
		{2 * s, "sample", true, 0, 0},    // no new baseline
		{3 * s, "", false, 1 * s, 3 * s}, // covers the failed interval too
		{4 * s, "delta", true, 0, 0},     // baseline moved, its delta lost
		{5 * s, "", false, 4 * s, 5 * s},
	}
	for i, st := range steps {
		now, fake.failNext = st.at, st.fail
		smp, err := rd.Read()
		if (err != nil) != st.wantErr {
			t.Fatalf("step %d: err %v", i, err)
		}
		if st.wantErr {
			continue
		}
		cpu := smp.Domains[DomainCPU]
		if smp.T0 != st.t0 || smp.T1 != st.t1 || math.Abs(cpu.PowerMW-10_000) > 1e-6 {
			t.Errorf("step %d: window [%d, %d] at %g mW, want [%d, %d] at 10000 mW", i, smp.T0, smp.T1, cpu.PowerMW, st.t0, st.t1)
		}
	}
}

// Availability lists the channels once per Probes (the server builds its
// sources again for every /api/health) and needs a recognised channel.
func TestIOReportAvailabilityIsProbedOnceAndNeedsARecognisedChannel(t *testing.T) {
	lists := 0
	names := []string{"GPU SRAM", "PCIe Port 0 Energy", "EACC_CPU0"}
	list := func() ([]string, Availability) { lists++; return names, available() }
	opened := 0
	open := func() (ioreportDeltas, error) { opened++; return &fakeIOReport{}, nil }
	probes := NewProbes()
	for range 3 {
		src := &IOReport{now: func() int64 { return 0 }, probes: probes, list: list, open: open}
		if a := src.Availability(); a.Available || !strings.Contains(a.Reason, "none of them") {
			t.Fatalf("availability with only unrecognised channels: %+v", a)
		}
		if _, err := src.Open(context.Background()); err == nil {
			t.Fatal("Open succeeded without a recognised channel")
		}
	}
	if lists != 1 || opened != 0 {
		t.Errorf("listed %d times and opened %d subscriptions; want 1 and 0", lists, opened)
	}

	m1 := m1UltraChannels(t)
	names = names[:0]
	for _, c := range m1 {
		names = append(names, c.Name)
	}
	src := &IOReport{now: func() int64 { return 0 }, probes: NewProbes(), list: list, open: open}
	if a := src.Availability(); !a.Available {
		t.Errorf("M1 Ultra channels: %+v", a)
	}
	src = &IOReport{now: func() int64 { return 0 }, probes: NewProbes(),
		list: func() ([]string, Availability) { return nil, unavailable("no libIOReport", "fix") }, open: open}
	if a := src.Availability(); a.Available || a.Reason != "no libIOReport" {
		t.Errorf("a failed listing: %+v", a)
	}
}

// Only the channels that feed a domain are subscribed to: 7 of the M1
// Ultra's 321 (all-smi keeps the same plus its GPU0_0 fallback, which we do
// not read).
func TestIOReportSubscribesOnlyWantedChannels(t *testing.T) {
	m1 := m1UltraChannels(t)
	names := make([]string, len(m1))
	for i, c := range m1 {
		names[i] = c.Name
	}
	var kept []string
	for _, i := range ioreportWanted(names) {
		kept = append(kept, names[i])
	}
	sort.Strings(kept)
	want := []string{"ANE0_0", "ANE0_1", "DIE_0_CPU Energy", "DIE_1_CPU Energy", "DRAM0_0", "DRAM0_1", "GPU Energy"}
	if strings.Join(kept, "|") != strings.Join(want, "|") {
		t.Errorf("kept %q, want %q", kept, want)
	}
}
