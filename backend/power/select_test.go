package power

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSelectAutoPrefersCounterThenSamplingThenEstimate(t *testing.T) {
	counter := &fakeSource{name: "rapl", kind: KindCounter, domains: []Domain{DomainCPU, DomainDRAM}, avail: available()}
	sampling := &fakeSource{name: "pm", kind: KindSampling, domains: []Domain{DomainCPU, DomainGPU, DomainDRAM}, avail: available()}
	estimate := &fakeSource{name: "estimate", kind: KindEstimate, domains: []Domain{DomainCPU, DomainANE}, avail: available()}
	deadCounter := &fakeSource{name: "nvml", kind: KindCounter, domains: []Domain{DomainGPU}, avail: unavailable("no lib", "install")}

	set, err := SelectAuto([]Source{estimate, sampling, deadCounter, counter})
	if err != nil {
		t.Fatal(err)
	}
	want := map[Domain]string{DomainCPU: "rapl", DomainDRAM: "rapl", DomainGPU: "pm", DomainANE: "estimate"}
	got := set.Domains()
	if len(got) != len(want) {
		t.Fatalf("selection = %v, want %v", got, want)
	}
	for d, name := range want {
		if got[d] != name {
			t.Errorf("%s from %q, want %q", d, got[d], name)
		}
	}
	// Without any source available: a clear error.
	_, err = SelectAuto([]Source{deadCounter})
	if err == nil || !strings.Contains(err.Error(), "doctor") || !strings.Contains(err.Error(), "no lib") {
		t.Fatalf("nothing available: %v", err)
	}
}

func TestSelectAutoKeepsRollupsWithTheCPUSource(t *testing.T) {
	// A Mac: IOReport counts cpu/gpu/ane/dram; powermetrics (sampling) also
	// has the package roll-up. Starting powermetrics under sudo just for a
	// package that overlaps IOReport's domains would double-count.
	ioreport := &fakeSource{name: "ioreport", kind: KindCounter, domains: []Domain{DomainCPU, DomainGPU, DomainANE, DomainDRAM}, avail: available()}
	pm := &fakeSource{name: "powermetrics", kind: KindSampling, domains: []Domain{DomainCPU, DomainGPU, DomainANE, DomainDRAM, DomainPackage}, avail: available()}
	set, err := SelectAuto([]Source{ioreport, pm})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Choices) != 1 || set.Choices[0].Source.Name() != "ioreport" {
		t.Fatalf("choices = %v, want IOReport alone", set.Domains())
	}
	// Linux with RAPL: the package comes with the cpu from RAPL.
	rapl := &fakeSource{name: "rapl", kind: KindCounter, domains: []Domain{DomainCPU, DomainPackage, DomainCore, DomainDRAM}, avail: available()}
	est := &fakeSource{name: "estimate", kind: KindEstimate, domains: []Domain{DomainCPU}, avail: available()}
	set, _ = SelectAuto([]Source{rapl, est})
	if d := set.Domains(); d[DomainPackage] != "rapl" || d[DomainCore] != "rapl" || d[DomainCPU] != "rapl" || len(set.Choices) != 1 {
		t.Fatalf("rapl selection = %v", d)
	}
	// Without any cpu source a package-only source still counts.
	set, _ = SelectAuto([]Source{&fakeSource{name: "pkg", kind: KindSampling, domains: []Domain{DomainPackage}, avail: available()}})
	if set.Domains()[DomainPackage] != "pkg" {
		t.Fatalf("package-only selection = %v", set.Domains())
	}
}

func TestSelectForced(t *testing.T) {
	root := fakeSysfs(t, fakeZone{"intel-rapl:0", "package-0", 1, maxRange})
	opts := Options{SysfsRoot: root}
	set, err := Select("rapl, replay:testdata/replay/demo.jsonl", opts)
	if err != nil {
		t.Fatal(err)
	}
	got := set.Domains()
	if got[DomainCPU] != "rapl" || got[DomainGPU] != "replay:testdata/replay/demo.jsonl" {
		t.Fatalf("forced selection = %v: rapl first takes cpu, the replay adds gpu", got)
	}
	if _, err := Select("rapl", Options{SysfsRoot: t.TempDir()}); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "fix:") {
		t.Fatalf("forcing an unavailable source: %v", err)
	}
	if _, err := Select("watts", opts); err == nil || !strings.Contains(err.Error(), "rapl") {
		t.Fatalf("unknown source: %v", err)
	}
	if _, err := Select("replay:"+filepath.Join(t.TempDir(), "none.jsonl"), opts); err == nil {
		t.Fatal("missing replay file accepted")
	}
	if _, err := Select("cpu-load,cpu-load", opts); err == nil {
		t.Fatal("a source that adds no domain accepted")
	}
}

func TestAllHasEverySource(t *testing.T) {
	var names []string
	for _, info := range Health(Options{SysfsRoot: t.TempDir(), NVMLLibrary: "libnvidia-ml-does-not-exist.so.1"}) {
		names = append(names, info.Name)
		if !info.Available && (info.Reason == "" || info.Fix == "") {
			t.Errorf("%s unavailable without reason and fix: %+v", info.Name, info)
		}
		if len(info.Domains) == 0 || info.Description == "" {
			t.Errorf("%s: %+v", info.Name, info)
		}
	}
	if got := strings.Join(names, ","); got != "ioreport,rapl,nvml,powermetrics,cpu-load" {
		t.Fatalf("registry = %s", got)
	}
}

func TestSetGroupMergesSources(t *testing.T) {
	a := newFake(DomainCPU, DomainDRAM)
	b := &fakeSource{name: "other", kind: KindSampling, domains: []Domain{DomainCPU, DomainGPU}, avail: available()}
	set := &Set{Choices: []Choice{{a, []Domain{DomainCPU, DomainDRAM}}, {b, []Domain{DomainGPU}}}}
	g, err := set.Start(context.Background(), SamplerOptions{Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sub := g.Subscribe(100)
	seen := map[string]bool{}
	deadline := time.After(5 * time.Second)
	for len(seen) < 2 {
		select {
		case smp := <-sub.C():
			seen[smp.Source] = true
			if smp.Source == "other" {
				if _, ok := smp.Domains[DomainCPU]; ok {
					t.Fatal("the second source reported cpu, which the set gave to the first")
				}
			}
		case <-deadline:
			t.Fatalf("only saw %v", seen)
		}
	}
	sub.Close()
	if err := g.Stop(); err != nil {
		t.Fatal(err)
	}
	if st := g.Status(); len(st) != 2 || st[0].Running {
		t.Fatalf("status after stop = %+v", st)
	}
	if len(g.Between(0, 1<<62)) == 0 {
		t.Fatal("group ring is empty")
	}
}
