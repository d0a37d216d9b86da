package profiler

import (
	"math"
	"testing"
)

func TestRegIncBetaClosedForms(t *testing.T) {
	for _, x := range []float64{0.01, 0.2, 0.5, 0.77, 0.99} {
		for _, a := range []float64{0.5, 1, 2.5, 7} {
			if got, want := RegIncBeta(x, a, 1), math.Pow(x, a); math.Abs(got-want) > 1e-12 {
				t.Errorf("I_%v(%v,1) = %v, want x^a = %v", x, a, got, want)
			}
			if got, want := RegIncBeta(x, 1, a), 1-math.Pow(1-x, a); math.Abs(got-want) > 1e-12 {
				t.Errorf("I_%v(1,%v) = %v, want 1-(1-x)^b = %v", x, a, got, want)
			}
		}
	}
	for _, a := range []float64{0.5, 3, 40} {
		if got := RegIncBeta(0.5, a, a); math.Abs(got-0.5) > 1e-12 {
			t.Errorf("I_0.5(%v,%v) = %v, want 0.5 by symmetry", a, a, got)
		}
	}
}

func TestStudentT(t *testing.T) {
	// df=1 is Cauchy: F(t) = 1/2 + atan(t)/π. df=2: F(t) = 1/2 + t/(2√(2+t²)).
	for _, x := range []float64{-5, -1, -0.3, 0, 0.4, 1, 3, 20} {
		if got, want := StudentTCDF(x, 1), 0.5+math.Atan(x)/math.Pi; math.Abs(got-want) > 1e-12 {
			t.Errorf("CDF(%v, df=1) = %v, want %v", x, got, want)
		}
		if got, want := StudentTCDF(x, 2), 0.5+x/(2*math.Sqrt(2+x*x)); math.Abs(got-want) > 1e-12 {
			t.Errorf("CDF(%v, df=2) = %v, want %v", x, got, want)
		}
	}
	// Published two-sided 95% critical values.
	for _, c := range []struct{ df, want float64 }{{1, 12.706205}, {4, 2.776445}, {10, 2.228139}, {30, 2.042272}} {
		if got := StudentTQuantile(0.975, c.df); math.Abs(got-c.want) > 1e-5 {
			t.Errorf("t(0.975, %v) = %v, want %v", c.df, got, c.want)
		}
	}
}

func TestWelchSleepData(t *testing.T) {
	// R: t.test(extra ~ group, data = sleep) →
	// t = -1.8608, df = 17.776, p-value = 0.07939 (Welch is R's default).
	g1 := []float64{0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0}
	g2 := []float64{1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4}
	tt, df, p, err := Welch(g1, g2)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(tt+1.8608) > 1e-4 || math.Abs(df-17.776) > 1e-3 || math.Abs(p-0.07939) > 1e-5 {
		t.Errorf("Welch = t %v df %v p %v, want -1.8608 17.776 0.07939", tt, df, p)
	}
	if _, _, _, err := Welch([]float64{1}, g2); err == nil {
		t.Error("Welch with one value: want an error")
	}
}

func TestCompare(t *testing.T) {
	mk := func(id string, jpt, tps float64) *Summary {
		s := &Summary{RunID: id}
		s.JoulesPerOutputToken = metric(jpt, "J/token", "measured rapl")
		s.DecodeTokensPerSecond = metric(tps, "tok/s", clockLabel)
		return s
	}
	a := Group{Label: "A", Summaries: []*Summary{mk("a1", 1.0, 100), mk("a2", 1.2, 110), mk("a3", 1.1, 90)}}
	b := Group{Label: "B", Summaries: []*Summary{mk("b1", 2.0, 50), mk("b2", 2.2, 55), mk("b3", 2.1, 45)}}
	c, err := Compare([]Group{a, b})
	if err != nil {
		t.Fatal(err)
	}
	st := c.Groups[1].Metrics["joules_per_output_token"]
	if st.Mean == nil || math.Abs(*st.Mean-2.1) > 1e-12 || math.Abs(*st.SD-0.1) > 1e-12 {
		t.Fatalf("group B J/token stat = %+v, want mean 2.1 sd 0.1", st)
	}
	half := 4.302653 * 0.1 / math.Sqrt(3) // t(0.975, 2) = 4.302653
	if math.Abs(*st.CI95High-(2.1+half)) > 1e-5 {
		t.Errorf("CI high = %v, want %v", *st.CI95High, 2.1+half)
	}
	if math.Abs(*st.Normalized-2.1/1.1) > 1e-12 {
		t.Errorf("normalized = %v, want %v", *st.Normalized, 2.1/1.1)
	}
	if _, ok := c.Groups[0].Metrics["total_energy_j"]; !ok || c.Groups[0].Metrics["total_energy_j"].Mean != nil {
		t.Error("a metric no run has must be present with no mean")
	}
	if len(c.Tests) != 2 || c.Tests[0].P == nil || *c.Tests[0].P > 0.001 {
		t.Errorf("tests = %+v, want a tiny p for J/token", c.Tests)
	}
	if _, err := Compare([]Group{a}); err == nil {
		t.Error("one group: want an error")
	}
	one, err := Compare([]Group{{Label: "x", Summaries: []*Summary{mk("x", 1, 1)}}, {Label: "y", Summaries: []*Summary{mk("y", 2, 2)}}})
	if err != nil {
		t.Fatal(err)
	}
	if one.Tests[0].P != nil || one.Tests[0].Note == "" {
		t.Errorf("single runs: want no p-value and a note, got %+v", one.Tests[0])
	}
}
