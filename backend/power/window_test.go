package power

import (
	"math"
	"testing"
)

func TestWindowEnergy(t *testing.T) {
	samples := []Sample{
		{T0: 0, T1: 100, Domains: map[Domain]Reading{DomainCPU: {EnergyMJ: 10, HasEnergy: true}}},
		{T0: 100, T1: 200, Domains: map[Domain]Reading{DomainCPU: {EnergyMJ: 20, HasEnergy: true}, DomainGPU: {PowerMW: 1e9, HasPower: true}}},
		{T0: 200, T1: 300, Domains: map[Domain]Reading{DomainCPU: {EnergyMJ: 40, HasEnergy: true}}},
	}
	e, cov := WindowEnergy(samples, 50, 250)
	// cpu: half of 10 + 20 + half of 40 = 45; gpu: 1e9 mW for 100 ns = 100 mJ.
	if math.Abs(e[DomainCPU]-45) > 1e-9 || cov[DomainCPU] != 200 {
		t.Errorf("cpu = %v mJ over %d ns, want 45 over 200", e[DomainCPU], cov[DomainCPU])
	}
	if math.Abs(e[DomainGPU]-100) > 1e-9 || cov[DomainGPU] != 100 {
		t.Errorf("gpu = %v mJ over %d ns, want 100 over 100 (partly covered)", e[DomainGPU], cov[DomainGPU])
	}
	if _, ok := e[DomainDRAM]; ok {
		t.Error("dram invented")
	}
}
