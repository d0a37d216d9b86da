package power

import (
	"context"
	"math"
	"strings"
	"testing"
)

func TestReplayFileHoldsLastValue(t *testing.T) {
	var now int64
	clk := func() int64 { return now }
	src, err := NewReplayFile("testdata/replay/demo.jsonl", Options{Now: clk})
	if err != nil {
		t.Fatal(err)
	}
	if src.Name() != "replay:testdata/replay/demo.jsonl" || src.Kind() != KindSampling {
		t.Fatalf("name %q kind %q", src.Name(), src.Kind())
	}
	if got := strings.Join(domainStrings(src.Domains()), ","); got != "cpu,gpu" {
		t.Fatalf("domains = %s", got)
	}
	r, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// [0, 250 ms]: cpu 4 W, gpu 10 W.
	now = 250e6
	smp, _ := r.Read()
	checkMW(t, smp, DomainCPU, 4000)
	checkMW(t, smp, DomainGPU, 10000)
	if got := smp.Domains[DomainCPU].Energy(smp.T1 - smp.T0); math.Abs(got-1000) > 1e-9 {
		t.Fatalf("cpu energy over 250 ms at 4 W = %v mJ, want 1000", got)
	}
	// [250, 750]: half at 4 W, half at 6 W for cpu → 5 W.
	now = 750e6
	smp, _ = r.Read()
	checkMW(t, smp, DomainCPU, 5000)
	checkMW(t, smp, DomainGPU, 11000)
	// [750, 1250]: gpu stops at 1000 (absent from the last point): it
	// covers 250 ms at 12 W; cpu 250 ms at 6 W and 250 ms at 2 W.
	now = 1250e6
	smp, _ = r.Read()
	checkMW(t, smp, DomainCPU, 4000)
	if e := smp.Domains[DomainGPU].EnergyMJ; math.Abs(e-3000) > 1e-9 {
		t.Fatalf("gpu energy = %v mJ, want 3000 (250 ms at 12 W)", e)
	}
	// Long after the last point: cpu holds 2 W, gpu absent (not 0).
	now = 60e9
	smp, _ = r.Read()
	checkMW(t, smp, DomainCPU, 2000)
	if _, ok := smp.Domains[DomainGPU]; ok {
		t.Fatal("gpu present after the trace dropped it")
	}
}

func checkMW(t *testing.T, smp Sample, d Domain, want float64) {
	t.Helper()
	got, ok := smp.Domains[d]
	if !ok || math.Abs(got.PowerMW-want) > 1e-6 {
		t.Fatalf("%s = %+v (present %v), want %v mW", d, got, ok, want)
	}
}

func TestNewReplayInMemory(t *testing.T) {
	var now int64 = 1000 // any origin: offsets count from Open
	src, err := NewReplay([]ReplayPoint{
		{OffsetMs: 100, DomainsMW: map[Domain]float64{DomainCPU: 1000}},
		{OffsetMs: 0, DomainsMW: map[Domain]float64{DomainCPU: 3000}},
	}, ReplayOptions{Name: "attribution", Kind: KindEstimate, Now: func() int64 { return now }})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := src.Open(context.Background())
	now += 200e6
	smp, _ := r.Read()
	// 100 ms at 3 W + 100 ms at 1 W = 400 mJ.
	if e := smp.Domains[DomainCPU].EnergyMJ; math.Abs(e-400) > 1e-9 || smp.Kind != KindEstimate || smp.Source != "attribution" {
		t.Fatalf("sample = %+v, want 400 mJ of kind estimated", smp)
	}
}

func TestReplayBeforeFirstPointIsAbsent(t *testing.T) {
	var now int64
	src, _ := NewReplay([]ReplayPoint{{OffsetMs: 1000, DomainsMW: map[Domain]float64{DomainCPU: 1}}}, ReplayOptions{Now: func() int64 { return now }})
	r, _ := src.Open(context.Background())
	now = 500e6
	smp, _ := r.Read()
	if len(smp.Domains) != 0 {
		t.Fatalf("before the first point: %v, want nothing", smp.Domains)
	}
}

func TestParseReplayErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":        "",
		"not json":     "offset 0 cpu 4\n",
		"late header":  `{"offset_ms": 0, "domains_mw": {"cpu": 1}}` + "\n" + `{"kind": "estimated"}` + "\n",
		"bad kind":     `{"kind": "guessed"}` + "\n" + `{"offset_ms": 0, "domains_mw": {}}` + "\n",
		"bad domains":  `{"offset_ms": 0, "domains_mw": {"cpu": "lots"}}` + "\n",
		"only comment": "# nothing\n",
	} {
		if _, _, err := ParseReplay(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewReplay([]ReplayPoint{{OffsetMs: -1}}, ReplayOptions{}); err == nil {
		t.Error("negative offset accepted")
	}
	if _, err := NewReplay([]ReplayPoint{{DomainsMW: map[Domain]float64{DomainCPU: -5}}}, ReplayOptions{}); err == nil {
		t.Error("negative power accepted")
	}
}
