package power

// NVIDIA GPUs through NVML. The library is loaded with purego (no cgo) in
// nvml_linux.go; everything here works on a small function table so it is
// tested with a fake. Facts: /work/shared/notes/linux-power.md, section b.
//   - nvmlDeviceGetTotalEnergyConsumption: mJ since the driver loaded,
//     Volta and newer; it resets when the driver reloads (a decrease).
//   - nvmlDeviceGetPowerUsage: mW (a 1-s average on Ampere and newer except
//     GA100); integrated here when there is no energy counter.
//   - Init/Shutdown are reference counted; reading needs no privileges.

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
)

// NVML return codes used here (nvml.h nvmlReturn_t).
const (
	nvmlSuccess           = 0
	nvmlErrNotSupported   = 3
	nvmlErrNoPermission   = 4
	nvmlErrDriverNotLoad  = 9
	nvmlErrLibRMMismatch  = 18
	nvmlErrGPUIsLost      = 15
	nvmlDeviceNameBufSize = 96 // NVML_DEVICE_NAME_V2_BUFFER_SIZE
)

// nvmlFuncs is the part of NVML this source calls. A nil
// DeviceGetTotalEnergyConsumption means the driver lacks the symbol.
type nvmlFuncs struct {
	Init                            func() int32
	Shutdown                        func() int32
	ErrorString                     func(ret int32) string
	DeviceGetCount                  func(count *uint32) int32
	DeviceGetHandleByIndex          func(index uint32, device *uintptr) int32
	DeviceGetName                   func(device uintptr, name *byte, length uint32) int32
	DeviceGetPowerUsage             func(device uintptr, milliwatts *uint32) int32
	DeviceGetTotalEnergyConsumption func(device uintptr, millijoules *uint64) int32
}

// nvmlLoader loads the library at path (platform-specific).
type nvmlLoader func(path string) (*nvmlFuncs, error)

type nvmlError struct {
	call string
	ret  int32
	text string
}

func (e *nvmlError) Error() string {
	return fmt.Sprintf("%s: NVML error %d (%s)", e.call, e.ret, e.text)
}

func (f *nvmlFuncs) check(call string, ret int32) error {
	if ret == nvmlSuccess {
		return nil
	}
	text := "unknown"
	if f.ErrorString != nil {
		text = f.ErrorString(ret)
	}
	return &nvmlError{call: call, ret: ret, text: text}
}

// nvmlDevice is one GPU as probed.
type nvmlDevice struct {
	index   int
	name    string
	handle  uintptr
	counter bool // has the total energy counter
}

type nvmlProbe struct {
	funcs   *nvmlFuncs
	devices []nvmlDevice
	avail   Availability
	kind    Kind
}

// NVML reads NVIDIA GPU energy (or power) per device.
type NVML struct {
	path string
	now  func() int64
	load nvmlLoader

	fake  bool // tests: skip the OS check
	once  sync.Once
	probe nvmlProbe
}

// NewNVML returns the NVML source loading opts.NVMLLibrary.
func NewNVML(opts Options) *NVML {
	opts = opts.withDefaults()
	return &NVML{path: opts.NVMLLibrary, now: opts.Now, load: loadNVML}
}

func newNVMLWith(load nvmlLoader, now func() int64) *NVML {
	return &NVML{path: "libnvidia-ml.so.1", now: now, load: load, fake: true}
}

func (n *NVML) Name() string { return "nvml" }

// Kind is a counter when every GPU has the energy counter, else sampling.
func (n *NVML) Kind() Kind {
	p := n.probed()
	if p.kind == "" {
		return KindCounter
	}
	return p.kind
}

func (n *NVML) Description() string {
	p := n.probed()
	var parts []string
	for _, d := range p.devices {
		how := "power usage (mW) integrated"
		if d.counter {
			how = "total energy counter (mJ)"
		}
		parts = append(parts, fmt.Sprintf("gpu%d %s: %s", d.index, d.name, how))
	}
	desc := "measured: NVIDIA NVML per GPU, nvmlDeviceGetTotalEnergyConsumption where supported (Volta+), else nvmlDeviceGetPowerUsage integrated"
	if len(parts) > 0 {
		desc += "; " + strings.Join(parts, "; ")
	}
	return desc
}

func (n *NVML) Domains() []Domain {
	p := n.probed()
	if len(p.devices) == 0 {
		return []Domain{GPUDomain(0)}
	}
	var out []Domain
	for _, d := range p.devices {
		out = append(out, GPUDomain(d.index))
	}
	return out
}

func (n *NVML) Availability() Availability { return n.probed().avail }

// probed loads NVML and lists the GPUs once.
func (n *NVML) probed() nvmlProbe {
	n.once.Do(func() {
		if n.fake {
			n.probe = n.probeWith()
		} else {
			n.probe = n.doProbe()
		}
	})
	return n.probe
}

const nvmlInstallFix = "install the NVIDIA driver, which ships libnvidia-ml.so.1 (e.g. 'sudo apt install nvidia-driver-<version>' or your distribution's nvidia-utils), check that 'nvidia-smi' works, or point --nvml-lib at the library"

func (n *NVML) doProbe() nvmlProbe {
	if runtime.GOOS != "linux" {
		return nvmlProbe{avail: unavailable("NVML (NVIDIA GPUs) is read on Linux only; this is "+runtime.GOOS, "none on this OS")}
	}
	return n.probeWith()
}

func (n *NVML) probeWith() nvmlProbe {
	f, err := n.load(n.path)
	if err != nil {
		return nvmlProbe{avail: unavailable("cannot load NVML ("+n.path+"): "+err.Error(), nvmlInstallFix)}
	}
	if ret := f.Init(); ret != nvmlSuccess {
		err := f.check("nvmlInit_v2", ret)
		switch ret {
		case nvmlErrDriverNotLoad:
			return nvmlProbe{avail: unavailable("NVIDIA driver not loaded: "+err.Error(), "load the driver ('sudo modprobe nvidia') or reboot after installing it; 'nvidia-smi' must work")}
		case nvmlErrLibRMMismatch:
			return nvmlProbe{avail: unavailable("NVML library and kernel driver versions differ: "+err.Error(), "reboot (or reload the nvidia kernel module) after the driver upgrade")}
		case nvmlErrNoPermission:
			return nvmlProbe{avail: unavailable("no permission to open the NVIDIA device: "+err.Error(), "add your user to the group owning /dev/nvidia* (often 'video')")}
		}
		return nvmlProbe{avail: unavailable("NVML did not initialise: "+err.Error(), "check that 'nvidia-smi' works")}
	}
	defer f.Shutdown()
	devices, skipped, err := nvmlDevices(f)
	if err != nil {
		return nvmlProbe{avail: unavailable(err.Error(), "check that 'nvidia-smi' lists the GPUs")}
	}
	if len(devices) == 0 {
		reason := "NVML found no NVIDIA GPU whose power can be read"
		if len(skipped) > 0 {
			reason += " (" + strings.Join(skipped, "; ") + ")"
		}
		return nvmlProbe{avail: unavailable(reason, "none if this machine has no NVIDIA GPU; otherwise check 'nvidia-smi -q -d POWER'")}
	}
	kind := KindCounter
	for _, d := range devices {
		if !d.counter {
			kind = KindSampling
		}
	}
	return nvmlProbe{funcs: f, devices: devices, avail: available(), kind: kind}
}

// nvmlDevices lists the GPUs and finds out which have the energy counter.
// A GPU that reports neither energy nor power is skipped (its domain is
// absent) and named in skipped.
func nvmlDevices(f *nvmlFuncs) (devices []nvmlDevice, skipped []string, err error) {
	var count uint32
	if err := f.check("nvmlDeviceGetCount_v2", f.DeviceGetCount(&count)); err != nil {
		return nil, nil, err
	}
	for i := range count {
		var h uintptr
		if err := f.check("nvmlDeviceGetHandleByIndex_v2", f.DeviceGetHandleByIndex(i, &h)); err != nil {
			skipped = append(skipped, fmt.Sprintf("gpu%d: %v", i, err))
			continue
		}
		d := nvmlDevice{index: int(i), handle: h, name: "NVIDIA GPU"}
		if f.DeviceGetName != nil {
			buf := make([]byte, nvmlDeviceNameBufSize)
			if f.DeviceGetName(h, &buf[0], uint32(len(buf))) == nvmlSuccess {
				if end := strings.IndexByte(string(buf), 0); end >= 0 {
					buf = buf[:end]
				}
				d.name = string(buf)
			}
		}
		if f.DeviceGetTotalEnergyConsumption != nil {
			var mj uint64
			d.counter = f.DeviceGetTotalEnergyConsumption(h, &mj) == nvmlSuccess
		}
		if !d.counter {
			var mw uint32
			if err := f.check("nvmlDeviceGetPowerUsage", f.DeviceGetPowerUsage(h, &mw)); err != nil {
				skipped = append(skipped, fmt.Sprintf("gpu%d: no energy counter and %v", i, err))
				continue
			}
		}
		devices = append(devices, d)
	}
	return devices, skipped, nil
}

func (n *NVML) Open(ctx context.Context) (Reader, error) {
	p := n.probed()
	if !p.avail.Available {
		return nil, unavailableError(n.Name(), p.avail)
	}
	f := p.funcs
	if err := f.check("nvmlInit_v2", f.Init()); err != nil {
		return nil, fmt.Errorf("nvml: %w", err)
	}
	// Handles stay valid while NVML is initialised; list again in case a
	// GPU vanished since the probe.
	devices, _, err := nvmlDevices(f)
	if err != nil {
		f.Shutdown()
		return nil, fmt.Errorf("nvml: %w", err)
	}
	r := &nvmlReader{src: n, f: f, devices: devices, prev: make([]nvmlValue, len(devices))}
	for i, d := range devices {
		r.prev[i] = r.readDevice(d)
	}
	r.prevT = n.now()
	return r, nil
}

// nvmlValue is one device's reading: the energy counter (mJ) or the power
// (mW), and whether the read worked.
type nvmlValue struct {
	energyMJ uint64
	powerMW  uint32
	ok       bool
}

type nvmlReader struct {
	src     *NVML
	f       *nvmlFuncs
	devices []nvmlDevice
	mu      sync.Mutex
	prev    []nvmlValue
	prevT   int64
	closed  bool
}

func (r *nvmlReader) readDevice(d nvmlDevice) nvmlValue {
	var v nvmlValue
	if d.counter {
		v.ok = r.f.DeviceGetTotalEnergyConsumption(d.handle, &v.energyMJ) == nvmlSuccess
	} else {
		v.ok = r.f.DeviceGetPowerUsage(d.handle, &v.powerMW) == nvmlSuccess
	}
	return v
}

func (r *nvmlReader) Read() (Sample, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Sample{}, fmt.Errorf("nvml: reader closed")
	}
	t1 := r.src.now()
	dt := t1 - r.prevT
	kind := KindCounter
	smp := Sample{T0: r.prevT, T1: t1, Source: r.src.Name(), Domains: map[Domain]Reading{}}
	failed := 0
	for i, d := range r.devices {
		cur := r.readDevice(d)
		prev := r.prev[i]
		r.prev[i] = cur
		if !cur.ok {
			failed++
			continue
		}
		if !prev.ok {
			continue // no baseline for this interval
		}
		dom := GPUDomain(d.index)
		if d.counter {
			if cur.energyMJ < prev.energyMJ {
				continue // driver reloaded: the counter restarted, the interval is unknown
			}
			mj := float64(cur.energyMJ - prev.energyMJ)
			smp.Domains[dom] = Reading{EnergyMJ: mj, HasEnergy: true, PowerMW: mwFromEnergy(mj, dt), HasPower: true}
			continue
		}
		// Trapezoid between the two power readings.
		kind = KindSampling
		smp.Domains[dom] = Reading{PowerMW: (float64(prev.powerMW) + float64(cur.powerMW)) / 2, HasPower: true}
	}
	smp.Kind = kind
	r.prevT = t1
	if failed == len(r.devices) {
		return Sample{}, fmt.Errorf("nvml: no GPU could be read (GPU lost or driver unloaded?)")
	}
	return smp, nil
}

func (r *nvmlReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.f.Shutdown()
	}
	return nil
}
