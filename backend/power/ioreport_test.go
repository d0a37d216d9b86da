package power

import (
	"bufio"
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
