package session

import (
	"math"
	"testing"

	"energyprofiler/backend/power"
)

func TestPowerDataConvertsCountersAndAddsSources(t *testing.T) {
	latest := map[string]float64{}
	// A RAPL-like counter sample: 1.5 J of package and 0.2 J of DRAM over
	// 100 ms is 15 W + 2 W; its cpu reading is inside the package.
	rapl := power.Sample{T0: 0, T1: 100e6, Source: "rapl", Kind: power.KindCounter, Domains: map[power.Domain]power.Reading{
		power.DomainPackage: {EnergyMJ: 1500, HasEnergy: true},
		power.DomainCPU:     {EnergyMJ: 1500, HasEnergy: true},
		power.DomainDRAM:    {EnergyMJ: 200, HasEnergy: true},
	}}
	d := PowerData(rapl, latest)
	domains := d["domains"].(map[string]any)
	if w := domains["package"].(map[string]float64)["power_w"]; math.Abs(w-15) > 1e-9 {
		t.Errorf("package %v W, want 15", w)
	}
	if d["source_total_w"] != 17.0 || d["total_w"] != 17.0 {
		t.Errorf("rapl totals %v / %v, want 17 / 17", d["source_total_w"], d["total_w"])
	}
	// An NVML sample reporting power adds its GPU to the machine total.
	nvml := power.Sample{T0: 0, T1: 100e6, Source: "nvml", Kind: power.KindSampling, Domains: map[power.Domain]power.Reading{
		"gpu0": {PowerMW: 250000, HasPower: true},
	}}
	d = PowerData(nvml, latest)
	if d["source_total_w"] != 250.0 || d["total_w"] != 267.0 {
		t.Errorf("nvml totals %v / %v, want 250 / 267", d["source_total_w"], d["total_w"])
	}
	// A sample with no domains has no total, rather than a total of 0.
	if d := PowerData(power.Sample{Source: "x", T1: 1}, latest); d["total_w"] != nil || d["source_total_w"] != nil {
		t.Errorf("empty sample totals %v / %v, want null", d["source_total_w"], d["total_w"])
	}
}
