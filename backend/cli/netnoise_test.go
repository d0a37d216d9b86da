package cli

import (
	"bytes"
	"strings"
	"testing"

	"energyprofiler/backend/power"
	"energyprofiler/backend/profiler"
)

// A net energy at or below 0, or within the run's noise bound, reads
// "≈0 (within idle noise)" with the reason, never as a negative or tiny
// number; a clear one reads as its value.
func TestSummaryNetEnergyWithinIdleNoise(t *testing.T) {
	metric := func(v float64, unit string) profiler.Metric {
		return profiler.Metric{Value: &v, Unit: unit, Label: "measured rapl"}
	}
	summary := func(net, noise float64, within bool) *profiler.Summary {
		n := net
		return &profiler.Summary{
			RunID: "r", Status: profiler.StatusCompleted, ModelName: "m",
			TotalEnergyJ: metric(10, "J"), NetEnergyJ: metric(net, "J"), NetNoiseJ: metric(noise, "J"), NetWithinNoise: within,
			Energy: profiler.Energy{Domains: map[power.Domain]profiler.DomainEnergy{
				power.DomainPackage: {GrossJ: 10, NetJ: &n, Label: "measured rapl", Coverage: 1},
			}},
		}
	}
	cases := []struct {
		name     string
		s        *profiler.Summary
		want     []string
		unwanted []string
	}{
		{"negative net", summary(-0.8, 0.3, true), []string{"energy (net of idle)  ≈0 (within idle noise)", "±0.3 J", "did not draw measurably more", "net ≈0 (within idle noise)"}, []string{"-0.8"}},
		{"net within the noise", summary(0.2, 0.5, true), []string{"≈0 (within idle noise)", "±0.5 J"}, []string{"0.2 J"}},
		{"net above the noise", summary(4.5, 0.5, false), []string{"energy (net of idle)  4.5 J", "net 4.5 J"}, []string{"≈0"}},
	}
	for _, c := range cases {
		var b bytes.Buffer
		printSummary(&b, c.s)
		out := b.String()
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, out)
			}
		}
		for _, u := range c.unwanted {
			if strings.Contains(out, u) {
				t.Errorf("%s: output shows %q:\n%s", c.name, u, out)
			}
		}
	}
}

// The summary's architecture line says what the dashboard says of a
// mixture of experts: experts, top-k and the active share of parameters.
func TestSummaryArchitectureLineOfAMoE(t *testing.T) {
	print := func(a *profiler.Architecture) string {
		var b bytes.Buffer
		printSummary(&b, &profiler.Summary{RunID: "r", Status: profiler.StatusCompleted, ModelName: "m", Architecture: a})
		return b.String()
	}
	moe := print(&profiler.Architecture{AttentionKind: "GQA", Layers: 4, Hidden: 512, ParamsTotal: 98_063_360, ParamsActive: 27_284_480, Experts: 8, TopK: 2})
	if !strings.Contains(moe, "MoE 8 experts, top-2, 27.3M of 98.1M params active") {
		t.Errorf("MoE line:\n%s", moe)
	}
	dense := print(&profiler.Architecture{AttentionKind: "GQA", Layers: 12, Hidden: 768, ParamsTotal: 100_100_000, ParamsActive: 100_100_000})
	if !strings.Contains(dense, "100.1M params") || strings.Contains(dense, "MoE") {
		t.Errorf("dense line:\n%s", dense)
	}
}
