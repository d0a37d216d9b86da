package power

// RAPL through the Linux powercap sysfs interface. The logic here is
// platform-independent file reading so it is tested on fake trees; on a
// machine without powercap (macOS, most VMs) the source is unavailable.
//
// Facts (see /work/shared/notes/linux-power.md, section a):
//   - zones are identified by their `name` file, never by index;
//   - psys ⊇ package ⊇ {core, uncore}; dram is separate: never sum across
//     levels, so "cpu"/"package" is Σ package-N and "core", "dram" are Σ of
//     their own zones;
//   - intel-rapl-mmio duplicates the MSR package counter: de-duplicate;
//   - energy_uj wraps at max_energy_range_uj;
//   - energy_uj is root-only since Linux 5.10 (CVE-2020-8694).

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
)

const (
	raplControl     = "intel-rapl"
	raplMMIOControl = "intel-rapl-mmio"
)

// raplZone is one powercap zone we read.
type raplZone struct {
	dir      string // path of the zone directory
	entry    string // directory entry under class/powercap, e.g. intel-rapl:0:1
	control  string // intel-rapl or intel-rapl-mmio
	name     string // contents of `name`
	parent   string // name of the parent zone for sub-zones, "" at top level
	domain   Domain
	maxRange uint64 // max_energy_range_uj, 0 when unknown
}

// RAPL reads Intel/AMD RAPL energy counters from powercap sysfs.
type RAPL struct {
	root     string // sysfs root
	now      func() int64
	readFile func(string) ([]byte, error)
}

// NewRAPL returns the RAPL source reading opts.SysfsRoot.
func NewRAPL(opts Options) *RAPL {
	opts = opts.withDefaults()
	return &RAPL{root: opts.SysfsRoot, now: opts.Now, readFile: os.ReadFile}
}

func (r *RAPL) Name() string { return "rapl" }
func (r *RAPL) Kind() Kind   { return KindCounter }
func (r *RAPL) Description() string {
	return "measured: Intel/AMD RAPL energy counters (powercap energy_uj); cpu and package = Σ package-N zones, core = Σ core (PP0), dram = Σ dram"
}

// Domains lists what this machine's zones cover, or every RAPL domain when
// the zones cannot be listed.
func (r *RAPL) Domains() []Domain {
	zones, err := r.zones()
	if err != nil || len(zones) == 0 {
		return []Domain{DomainCPU, DomainPackage, DomainCore, DomainDRAM}
	}
	return raplDomains(zones)
}

func raplDomains(zones []raplZone) []Domain {
	seen := map[Domain]bool{}
	for _, z := range zones {
		seen[z.domain] = true
	}
	var out []Domain
	for _, d := range []Domain{DomainCPU, DomainPackage, DomainCore, DomainDRAM} {
		if seen[d] || (d == DomainCPU && seen[DomainPackage]) {
			out = append(out, d)
		}
	}
	return out
}

func (r *RAPL) powercapDir() string { return filepath.Join(r.root, "class", "powercap") }

// zones lists the zones that carry a domain, de-duplicated.
func (r *RAPL) zones() ([]raplZone, error) {
	dir := r.powercapDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var all []raplZone
	names := map[string]string{} // entry → name, to name the parents of sub-zones
	for _, e := range entries {
		control, idx, ok := strings.Cut(e.Name(), ":")
		if !ok || (control != raplControl && control != raplMMIOControl) {
			continue // the control-type directories themselves, or other drivers
		}
		zdir := filepath.Join(dir, e.Name())
		nameBytes, err := r.readFile(filepath.Join(zdir, "name"))
		if err != nil {
			continue // not a zone
		}
		name := strings.TrimSpace(string(nameBytes))
		names[e.Name()] = name
		z := raplZone{dir: zdir, entry: e.Name(), control: control, name: name}
		if i := strings.LastIndex(idx, ":"); i >= 0 {
			z.parent = control + ":" + idx[:i] // resolved to a name below
		}
		if b, err := r.readFile(filepath.Join(zdir, "max_energy_range_uj")); err == nil {
			z.maxRange, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		}
		all = append(all, z)
	}
	// Resolve parent entries to names and pick each zone's domain.
	var kept []raplZone
	for _, z := range all {
		if z.parent != "" {
			z.parent = names[z.parent]
		}
		switch {
		case z.parent == "" && isRAPLPackage(z.name):
			z.domain = DomainPackage
		case z.name == "core":
			z.domain = DomainCore
		case z.name == "dram":
			z.domain = DomainDRAM
		default:
			continue // psys, uncore and unknown names are not read
		}
		kept = append(kept, z)
	}
	return dedupeRAPL(kept), nil
}

// isRAPLPackage matches package-N and package-N-die-M.
func isRAPLPackage(name string) bool {
	rest, ok := strings.CutPrefix(name, "package-")
	if !ok || rest == "" {
		return false
	}
	pkg, die, hasDie := strings.Cut(rest, "-die-")
	if _, err := strconv.Atoi(pkg); err != nil {
		return false
	}
	if hasDie {
		if _, err := strconv.Atoi(die); err != nil {
			return false
		}
	}
	return true
}

// dedupeRAPL drops intel-rapl-mmio zones that duplicate an intel-rapl zone
// with the same name at the same place in the tree (the MMIO interface reads
// the same package counter as the MSR one).
func dedupeRAPL(zones []raplZone) []raplZone {
	key := func(z raplZone) string { return z.parent + "/" + z.name }
	msr := map[string]bool{}
	for _, z := range zones {
		if z.control == raplControl {
			msr[key(z)] = true
		}
	}
	var out []raplZone
	for _, z := range zones {
		if z.control == raplMMIOControl && msr[key(z)] {
			continue
		}
		out = append(out, z)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].entry < out[j].entry })
	return out
}

func (r *RAPL) readEnergy(z raplZone) (uint64, error) {
	p := filepath.Join(z.dir, "energy_uj")
	b, err := r.readFile(p)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", p, err)
	}
	return v, nil
}

// Availability lists the zones and reads each counter once.
func (r *RAPL) Availability() Availability {
	zones, err := r.zones()
	if err != nil || len(zones) == 0 {
		reason := "no RAPL zones under " + r.powercapDir()
		if runtime.GOOS != "linux" {
			reason += " (RAPL is read through Linux powercap; this is " + runtime.GOOS + ")"
			return unavailable(reason, "none on this OS; use the platform's own source (ioreport or powermetrics on macOS)")
		}
		return unavailable(reason+": the intel_rapl_msr driver is not loaded, this is a VM (RAPL is rarely passed to guests), or a container without the host's /sys/class/powercap",
			"on bare-metal Intel or AMD Zen (Linux >= 5.8) run 'sudo modprobe intel_rapl_msr'; in a container mount the host's /sys/class/powercap read-only; otherwise use the labelled estimate (--power cpu-load)")
	}
	for _, z := range zones {
		if _, err := r.readEnergy(z); err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return unavailable(
					"permission denied reading "+filepath.Join(z.dir, "energy_uj")+": RAPL energy counters are root-only since Linux 5.10 (CVE-2020-8694)",
					raplPermissionFix(zones))
			}
			return unavailable("cannot read "+filepath.Join(z.dir, "energy_uj")+": "+err.Error(),
				"check that the intel_rapl_msr driver is healthy ('dmesg | grep -i rapl')")
		}
	}
	return available()
}

// raplPermissionFix is the exact fix for EACCES on energy_uj: a udev rule,
// sysfsutils lines for the zones of this machine, or running as root.
func raplPermissionFix(zones []raplZone) string {
	var sysfs []string
	for _, z := range zones {
		f := "class/powercap/" + z.entry + "/energy_uj"
		sysfs = append(sysfs, "mode "+f+" = 0440", "owner "+f+" = root:rapl")
	}
	return "give a 'rapl' group read access (this re-opens the power side channel to that group): " +
		"sudo groupadd -r rapl && sudo usermod -aG rapl $USER, then EITHER " +
		"(1) udev: put this line in /etc/udev/rules.d/60-energyprofiler-rapl.rules: " +
		`SUBSYSTEM=="powercap", KERNEL=="intel-rapl*", RUN+="/bin/chgrp rapl /sys%p/energy_uj", RUN+="/bin/chmod g+r /sys%p/energy_uj"` +
		" and run 'sudo udevadm trigger --subsystem-match=powercap --action=add'; " +
		"OR (2) sysfsutils: add to /etc/sysfs.conf: " + strings.Join(sysfs, "; ") +
		" and run 'sudo systemctl restart sysfsutils'; then log in again. " +
		"OR (3) run energyprofiler as root (sudo)."
}

// Open reads the baseline of every zone.
func (r *RAPL) Open(ctx context.Context) (Reader, error) {
	if a := r.Availability(); !a.Available {
		return nil, unavailableError(r.Name(), a)
	}
	zones, err := r.zones()
	if err != nil {
		return nil, fmt.Errorf("rapl: %w", err)
	}
	rd := &raplReader{src: r, zones: zones, prev: make([]uint64, len(zones)), cur: make([]uint64, len(zones))}
	if err := rd.readAll(rd.prev); err != nil {
		return nil, err
	}
	rd.prevT = r.now()
	return rd, nil
}

type raplReader struct {
	src       *RAPL
	zones     []raplZone
	prev, cur []uint64
	prevT     int64
	mu        sync.Mutex
}

func (rd *raplReader) readAll(into []uint64) error {
	for i, z := range rd.zones {
		v, err := rd.src.readEnergy(z)
		if err != nil {
			return fmt.Errorf("rapl zone %s (%s): %w", z.entry, z.name, err)
		}
		into[i] = v
	}
	return nil
}

// raplDelta is the energy in µJ between two readings of a counter that wraps
// at maxRange. ok is false when the counter went backwards and the range is
// unknown, so the interval cannot be measured.
func raplDelta(prev, cur, maxRange uint64) (delta uint64, ok bool) {
	if cur >= prev {
		return cur - prev, true
	}
	if maxRange == 0 || prev > maxRange {
		return 0, false
	}
	return (maxRange - prev) + cur, true
}

func (rd *raplReader) Read() (Sample, error) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if err := rd.readAll(rd.cur); err != nil {
		return Sample{}, err
	}
	t1 := rd.src.now()
	smp := Sample{T0: rd.prevT, T1: t1, Source: rd.src.Name(), Kind: KindCounter, Domains: map[Domain]Reading{}}
	sums := map[Domain]float64{}
	broken := map[Domain]bool{}
	for i, z := range rd.zones {
		d, ok := raplDelta(rd.prev[i], rd.cur[i], z.maxRange)
		if !ok {
			broken[z.domain] = true
			continue
		}
		sums[z.domain] += float64(d) / 1000 // µJ → mJ
	}
	for d, mj := range sums {
		if broken[d] {
			continue // part of the domain is unknown: absent, not an undercount
		}
		rdg := Reading{EnergyMJ: mj, HasEnergy: true, PowerMW: mwFromEnergy(mj, t1-rd.prevT), HasPower: true}
		smp.Domains[d] = rdg
		if d == DomainPackage {
			smp.Domains[DomainCPU] = rdg
		}
	}
	rd.prev, rd.cur = rd.cur, rd.prev
	rd.prevT = t1
	return smp, nil
}

func (rd *raplReader) Close() error { return nil }
