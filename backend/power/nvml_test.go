package power

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"unsafe"
)

// fakeGPU is one device behind the fake NVML table.
type fakeGPU struct {
	name      string
	energyMJ  uint64
	noCounter bool // nvmlDeviceGetTotalEnergyConsumption → NOT_SUPPORTED (pre-Volta)
	powerMW   uint32
	failReads bool
}

type fakeNVML struct {
	gpus      []*fakeGPU
	initRet   int32
	inits     int
	shutdowns int
}

func (f *fakeNVML) funcs() *nvmlFuncs {
	return &nvmlFuncs{
		Init:        func() int32 { f.inits++; return f.initRet },
		Shutdown:    func() int32 { f.shutdowns++; return 0 },
		ErrorString: func(r int32) string { return "fake error" },
		DeviceGetCount: func(c *uint32) int32 {
			*c = uint32(len(f.gpus))
			return 0
		},
		DeviceGetHandleByIndex: func(i uint32, h *uintptr) int32 { *h = uintptr(i) + 100; return 0 },
		DeviceGetName: func(h uintptr, b *byte, n uint32) int32 {
			name := f.gpus[h-100].name
			buf := unsafeBytes(b, n)
			copy(buf, name)
			buf[len(name)] = 0
			return 0
		},
		DeviceGetPowerUsage: func(h uintptr, mw *uint32) int32 {
			g := f.gpus[h-100]
			if g.failReads {
				return nvmlErrGPUIsLost
			}
			*mw = g.powerMW
			return 0
		},
		DeviceGetTotalEnergyConsumption: func(h uintptr, mj *uint64) int32 {
			g := f.gpus[h-100]
			if g.noCounter {
				return nvmlErrNotSupported
			}
			if g.failReads {
				return nvmlErrGPUIsLost
			}
			*mj = g.energyMJ
			return 0
		},
	}
}

func (f *fakeNVML) source(now func() int64) *NVML {
	return newNVMLWith(func(string) (*nvmlFuncs, error) { return f.funcs(), nil }, now)
}

func TestNVMLCounterAndIntegratedPower(t *testing.T) {
	a100 := &fakeGPU{name: "NVIDIA A100-SXM4-80GB", energyMJ: 1_000_000}
	p100 := &fakeGPU{name: "Tesla P100", noCounter: true, powerMW: 30_000}
	f := &fakeNVML{gpus: []*fakeGPU{a100, p100}}
	src := f.source(steppingClock(500_000_000)) // 0.5 s per read
	if a := src.Availability(); !a.Available {
		t.Fatalf("unavailable: %+v", a)
	}
	if src.Kind() != KindSampling {
		t.Errorf("kind with a pre-Volta GPU = %s, want sampling", src.Kind())
	}
	if got := strings.Join(domainStrings(src.Domains()), ","); got != "gpu0,gpu1" {
		t.Errorf("domains = %s", got)
	}
	if d := src.Description(); !strings.Contains(d, "gpu0 NVIDIA A100-SXM4-80GB: total energy counter") || !strings.Contains(d, "gpu1 Tesla P100: power usage") {
		t.Errorf("description = %q", d)
	}
	r, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a100.energyMJ += 150_000 // 150 J in 0.5 s = 300 W
	p100.powerMW = 50_000    // 30 W → 50 W: trapezoid 40 W
	smp, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	g0, g1 := smp.Domains[GPUDomain(0)], smp.Domains[GPUDomain(1)]
	if !g0.HasEnergy || g0.EnergyMJ != 150_000 || math.Abs(g0.PowerMW-300_000) > 1e-6 {
		t.Errorf("gpu0 = %+v, want 150000 mJ / 300 W from the counter", g0)
	}
	if g1.HasEnergy || g1.PowerMW != 40_000 || math.Abs(g1.Energy(smp.T1-smp.T0)-20_000) > 1e-6 {
		t.Errorf("gpu1 = %+v, want 40 W integrated (20 J over 0.5 s)", g1)
	}
	if smp.Kind != KindSampling {
		t.Errorf("sample kind = %s", smp.Kind)
	}
	// The driver reloads: the counter restarts. That interval is absent.
	a100.energyMJ = 10
	smp, _ = r.Read()
	if _, ok := smp.Domains[GPUDomain(0)]; ok {
		t.Error("gpu0 present across a counter reset")
	}
	a100.energyMJ = 1010
	smp, _ = r.Read()
	if smp.Domains[GPUDomain(0)].EnergyMJ != 1000 {
		t.Errorf("after the reset: %+v", smp.Domains[GPUDomain(0)])
	}
	r.Close()
	r.Close()
	if f.inits != f.shutdowns {
		t.Errorf("nvmlInit %d times, nvmlShutdown %d times", f.inits, f.shutdowns)
	}
}

func TestNVMLAllCountersIsCounterKind(t *testing.T) {
	f := &fakeNVML{gpus: []*fakeGPU{{name: "H100"}, {name: "H100"}}}
	src := f.source(steppingClock(1))
	if src.Kind() != KindCounter {
		t.Fatalf("kind = %s", src.Kind())
	}
}

func TestNVMLLostGPU(t *testing.T) {
	g := &fakeGPU{name: "L4", energyMJ: 5}
	f := &fakeNVML{gpus: []*fakeGPU{g}}
	r, err := f.source(steppingClock(1e9)).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g.failReads = true
	if _, err := r.Read(); err == nil {
		t.Fatal("no error when no GPU can be read")
	}
}

func TestNVMLUnavailable(t *testing.T) {
	missing := newNVMLWith(func(p string) (*nvmlFuncs, error) {
		return nil, errors.New("dlopen libnvidia-ml.so.1: cannot open shared object file")
	}, steppingClock(1))
	a := missing.Availability()
	if a.Available || !strings.Contains(a.Reason, "cannot load NVML") || !strings.Contains(a.Fix, "NVIDIA driver") {
		t.Errorf("missing library: %+v", a)
	}
	if _, err := missing.Open(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Open without the library: %v", err)
	}

	noDriver := &fakeNVML{initRet: nvmlErrDriverNotLoad}
	if a := noDriver.source(steppingClock(1)).Availability(); a.Available || !strings.Contains(a.Reason, "driver not loaded") {
		t.Errorf("driver not loaded: %+v", a)
	}
	none := &fakeNVML{}
	if a := none.source(steppingClock(1)).Availability(); a.Available || !strings.Contains(a.Reason, "no NVIDIA GPU") {
		t.Errorf("no GPUs: %+v", a)
	}
	// A GPU with neither counter nor power is skipped and named.
	dead := &fakeNVML{gpus: []*fakeGPU{{name: "x", noCounter: true, failReads: true}}}
	if a := dead.source(steppingClock(1)).Availability(); a.Available || !strings.Contains(a.Reason, "gpu0") {
		t.Errorf("unreadable GPU: %+v", a)
	}
}

func TestNVMLRealLibraryAbsentHere(t *testing.T) {
	// On this CI machine there is no NVIDIA driver; the real loader must
	// say so instead of crashing. Where a driver exists the test only
	// checks that the probe is consistent.
	src := NewNVML(Options{NVMLLibrary: "libnvidia-ml-does-not-exist.so.1"})
	if a := src.Availability(); a.Available || a.Reason == "" || a.Fix == "" {
		t.Fatalf("nonexistent library: %+v", a)
	}
}
func unsafeBytes(p *byte, n uint32) []byte { return unsafe.Slice(p, n) }
