package power

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	a := readFixture(t, "testdata/procstat/stat-a")
	b := readFixture(t, "testdata/procstat/stat-b")
	ta, err := parseProcStat(a)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := parseProcStat(b)
	if err != nil {
		t.Fatal(err)
	}
	// Deltas: user 200, system 100, idle 80, iowait 10, irq 5, softirq 5,
	// steal 5, guest 40 (already inside user: not added again).
	// total 405, idle+iowait 90 → busy 315.
	if got, want := utilization(ta, tb), 315.0/405; math.Abs(got-want) > 1e-12 {
		t.Fatalf("utilization = %v, want %v", got, want)
	}
}

func TestParseProcStatErrors(t *testing.T) {
	for _, in := range []string{"", "intr 1 2 3\n", "cpu  1 2\n", "cpu  1 2 x 4 5\n"} {
		if _, err := parseProcStat([]byte(in)); err == nil {
			t.Errorf("parseProcStat(%q) gave no error", in)
		}
	}
}

func TestUtilizationNoTicks(t *testing.T) {
	if u := utilization(cpuTimes{10, 100}, cpuTimes{10, 100}); u != -1 {
		t.Fatalf("no ticks → %v, want -1 (unknown)", u)
	}
}

func TestEstimateModel(t *testing.T) {
	e := NewEstimate(Options{Estimate: EstimateOptions{CPUs: 4}})
	// CCF: 4 × (0.74 + 0.5 × (3.5 − 0.74)) W = 8.48 W.
	if got := e.PowerMW(0.5); math.Abs(got-8480) > 1e-9 {
		t.Fatalf("PowerMW(0.5) = %v, want 8480", got)
	}
	if e.Kind() != KindEstimate {
		t.Fatal("the estimate must be labelled estimated")
	}
	d := e.Description()
	for _, want := range []string{"estimated", "Cloud Carbon Footprint", "0.74", "3.50", "4 vCPUs"} {
		if !strings.Contains(d, want) {
			t.Errorf("description %q lacks %q", d, want)
		}
	}
}

func TestEstimateReadsProcStat(t *testing.T) {
	proc := t.TempDir()
	copyFile(t, "testdata/procstat/stat-a", filepath.Join(proc, "stat"))
	src := NewEstimate(Options{ProcRoot: proc, Now: steppingClock(1e9), Estimate: EstimateOptions{CPUs: 4}})
	if a := src.Availability(); !a.Available {
		t.Fatalf("unavailable: %+v", a)
	}
	r, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, "testdata/procstat/stat-b", filepath.Join(proc, "stat"))
	smp, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	want := 4 * (0.74 + 315.0/405*(3.5-0.74)) * 1000
	got := smp.Domains[DomainCPU]
	if !got.HasPower || got.HasEnergy || math.Abs(got.PowerMW-want) > 1e-6 || smp.Kind != KindEstimate {
		t.Fatalf("sample = %+v, want estimated cpu %v mW", smp, want)
	}
	// No tick since: the last utilization holds.
	smp, _ = r.Read()
	if math.Abs(smp.Domains[DomainCPU].PowerMW-want) > 1e-6 {
		t.Fatalf("held value = %v, want %v", smp.Domains[DomainCPU].PowerMW, want)
	}
}

func TestEstimateUnreadable(t *testing.T) {
	a := NewEstimate(Options{ProcRoot: t.TempDir()}).Availability()
	if a.Available || a.Reason == "" {
		t.Fatalf("availability without /proc/stat = %+v", a)
	}
}

func readFixture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, readFixture(t, from), 0o644); err != nil {
		t.Fatal(err)
	}
}
