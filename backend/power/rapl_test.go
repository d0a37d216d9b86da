package power

import (
	"context"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// fakeZone is one powercap zone in a fake sysfs tree.
type fakeZone struct {
	entry    string // e.g. intel-rapl:0 or intel-rapl:0:1
	name     string
	energy   uint64
	maxRange uint64
}

// fakeSysfs writes zones the way the kernel lays them out: the control type
// directory and flattened zone entries under class/powercap.
func fakeSysfs(t testing.TB, zones ...fakeZone) string {
	t.Helper()
	root := t.TempDir()
	pc := filepath.Join(root, "class", "powercap")
	for _, ctl := range []string{"intel-rapl", "intel-rapl-mmio"} {
		if err := os.MkdirAll(filepath.Join(pc, ctl), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(pc, ctl, "enabled"), []byte("1\n"), 0o644)
	}
	for _, z := range zones {
		dir := filepath.Join(pc, z.entry)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, "name"), z.name+"\n")
		write(t, filepath.Join(dir, "energy_uj"), strconv.FormatUint(z.energy, 10)+"\n")
		write(t, filepath.Join(dir, "max_energy_range_uj"), strconv.FormatUint(z.maxRange, 10)+"\n")
		write(t, filepath.Join(dir, "constraint_0_name"), "long_term\n")
	}
	return root
}

func write(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func setEnergy(t testing.TB, root, entry string, v uint64) {
	t.Helper()
	write(t, filepath.Join(root, "class", "powercap", entry, "energy_uj"), strconv.FormatUint(v, 10)+"\n")
}

// steppingClock advances by step on every call.
func steppingClock(step int64) func() int64 {
	var t int64
	return func() int64 { t += step; return t }
}

const maxRange = 262143328850 // i9-13900HX, raplcap issue 14

// A two-socket Intel server: package-N with core and dram sub-zones, plus
// psys and an MMIO duplicate of package-0.
func serverTree(t testing.TB) string {
	return fakeSysfs(t,
		fakeZone{"intel-rapl:0", "package-0", 1_000_000, maxRange},
		fakeZone{"intel-rapl:0:0", "core", 500_000, maxRange},
		fakeZone{"intel-rapl:0:1", "dram", 100_000, maxRange},
		fakeZone{"intel-rapl:1", "package-1", 2_000_000, maxRange},
		fakeZone{"intel-rapl:1:0", "core", 700_000, maxRange},
		fakeZone{"intel-rapl:1:1", "dram", 200_000, maxRange},
		fakeZone{"intel-rapl:2", "psys", 9_000_000, maxRange},
		fakeZone{"intel-rapl-mmio:0", "package-0", 1_000_000, maxRange},
	)
}

func TestRAPLSumsPackagesNeverLevels(t *testing.T) {
	root := serverTree(t)
	src := NewRAPL(Options{SysfsRoot: root, Now: steppingClock(100_000_000)}) // 100 ms per Read
	if a := src.Availability(); !a.Available {
		t.Fatalf("unavailable on a readable tree: %+v", a)
	}
	r, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// +3 J on package-0, +5 J on package-1; cores +1 J and +2 J; dram
	// +0.5 J each; psys +100 J (must not show up anywhere); the MMIO
	// duplicate moves too (must not be counted twice).
	setEnergy(t, root, "intel-rapl:0", 4_000_000)
	setEnergy(t, root, "intel-rapl:1", 7_000_000)
	setEnergy(t, root, "intel-rapl:0:0", 1_500_000)
	setEnergy(t, root, "intel-rapl:1:0", 2_700_000)
	setEnergy(t, root, "intel-rapl:0:1", 600_000)
	setEnergy(t, root, "intel-rapl:1:1", 700_000)
	setEnergy(t, root, "intel-rapl:2", 109_000_000)
	setEnergy(t, root, "intel-rapl-mmio:0", 4_000_000)
	smp, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	want := map[Domain]float64{DomainPackage: 8000, DomainCPU: 8000, DomainCore: 3000, DomainDRAM: 1000}
	if len(smp.Domains) != len(want) {
		t.Fatalf("domains = %v, want exactly %v", smp.Domains, want)
	}
	for d, mj := range want {
		got := smp.Domains[d]
		if !got.HasEnergy || math.Abs(got.EnergyMJ-mj) > 1e-9 {
			t.Errorf("%s energy = %+v, want %v mJ", d, got, mj)
		}
		if wantMW := mj / 0.1; math.Abs(got.PowerMW-wantMW) > 1e-6 {
			t.Errorf("%s power = %v mW, want %v", d, got.PowerMW, wantMW)
		}
	}
	if smp.T1-smp.T0 != 100_000_000 || smp.Kind != KindCounter || smp.Source != "rapl" {
		t.Errorf("sample header = %+v", smp)
	}
}

func TestRAPLWraparound(t *testing.T) {
	const small = 65_532_610_987 // a 32-bit MSR at 15.3 µJ units
	root := fakeSysfs(t, fakeZone{"intel-rapl:0", "package-0", small - 1_000_000, small})
	r, err := NewRAPL(Options{SysfsRoot: root, Now: steppingClock(1e9)}).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	setEnergy(t, root, "intel-rapl:0", 2_500_000) // wrapped: 1 J to the top, 2.5 J after
	smp, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got := smp.Domains[DomainPackage].EnergyMJ; math.Abs(got-3500) > 1e-9 {
		t.Fatalf("energy across the wrap = %v mJ, want 3500", got)
	}
	// And a normal step after the wrap uses the new baseline.
	setEnergy(t, root, "intel-rapl:0", 3_000_000)
	smp, _ = r.Read()
	if got := smp.Domains[DomainCPU].EnergyMJ; math.Abs(got-500) > 1e-9 {
		t.Fatalf("energy after the wrap = %v mJ, want 500", got)
	}
}

func TestRAPLDelta(t *testing.T) {
	tests := []struct {
		prev, cur, max uint64
		want           uint64
		ok             bool
	}{
		{100, 250, 1000, 150, true},
		{900, 100, 1000, 200, true},
		{900, 100, 0, 0, false}, // range unknown: cannot tell
		{5, 5, 1000, 0, true},
	}
	for _, tc := range tests {
		got, ok := raplDelta(tc.prev, tc.cur, tc.max)
		if got != tc.want || ok != tc.ok {
			t.Errorf("raplDelta(%d, %d, %d) = %d, %v; want %d, %v", tc.prev, tc.cur, tc.max, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRAPLMMIOOnlyIsUsed(t *testing.T) {
	// Without an MSR zone of the same name the MMIO zone is the package.
	root := fakeSysfs(t, fakeZone{"intel-rapl-mmio:0", "package-0", 0, maxRange})
	r, err := NewRAPL(Options{SysfsRoot: root, Now: steppingClock(1e9)}).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	setEnergy(t, root, "intel-rapl-mmio:0", 7_000)
	smp, _ := r.Read()
	if got := smp.Domains[DomainPackage].EnergyMJ; got != 7 {
		t.Fatalf("package from MMIO = %v mJ, want 7", got)
	}
}

func TestRAPLAMDZen(t *testing.T) {
	// AMD Zen under intel_rapl_msr: same names, package per die, a core
	// zone, no dram and no psys.
	root := fakeSysfs(t,
		fakeZone{"intel-rapl:0", "package-0", 10_000, maxRange},
		fakeZone{"intel-rapl:0:0", "core", 10, maxRange},
		fakeZone{"intel-rapl:1", "package-1", 20_000, maxRange},
	)
	src := NewRAPL(Options{SysfsRoot: root, Now: steppingClock(1e9)})
	doms := src.Domains()
	if strings.Join(domainStrings(doms), ",") != "cpu,package,core" {
		t.Fatalf("AMD domains = %v, want cpu,package,core (no dram)", doms)
	}
	r, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	setEnergy(t, root, "intel-rapl:0", 40_000)
	setEnergy(t, root, "intel-rapl:1", 50_000)
	smp, _ := r.Read()
	if got := smp.Domains[DomainCPU].EnergyMJ; got != 60 {
		t.Fatalf("cpu = %v mJ, want 60 (Σ package-0, package-1)", got)
	}
	if _, ok := smp.Domains[DomainDRAM]; ok {
		t.Fatal("dram reported on a machine with no dram zone; it must be absent")
	}
}

func domainStrings(ds []Domain) []string {
	var out []string
	for _, d := range ds {
		out = append(out, string(d))
	}
	return out
}

func TestRAPLPermissionDenied(t *testing.T) {
	root := serverTree(t)
	src := NewRAPL(Options{SysfsRoot: root})
	// Running as root ignores file modes, so the EACCES comes from the
	// read function, exactly as os.ReadFile reports it.
	src.readFile = func(p string) ([]byte, error) {
		if strings.HasSuffix(p, "energy_uj") {
			return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.EACCES}
		}
		return os.ReadFile(p)
	}
	a := src.Availability()
	if a.Available {
		t.Fatal("available although energy_uj is root-only")
	}
	for _, want := range []string{"permission denied", "CVE-2020-8694"} {
		if !strings.Contains(a.Reason, want) {
			t.Errorf("reason %q lacks %q", a.Reason, want)
		}
	}
	for _, want := range []string{
		`SUBSYSTEM=="powercap"`, "/etc/udev/rules.d/", "udevadm trigger",
		"mode class/powercap/intel-rapl:0/energy_uj = 0440",
		"owner class/powercap/intel-rapl:1:1/energy_uj = root:rapl",
		"sysfsutils", "as root",
	} {
		if !strings.Contains(a.Fix, want) {
			t.Errorf("fix lacks %q:\n%s", want, a.Fix)
		}
	}
	if _, err := src.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "udev") {
		t.Fatalf("Open error = %v, want the unavailable reason and fix", err)
	}
}

func TestRAPLRealPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads 0400 files; TestRAPLPermissionDenied covers the logic")
	}
	root := fakeSysfs(t, fakeZone{"intel-rapl:0", "package-0", 1, maxRange})
	os.Chmod(filepath.Join(root, "class/powercap/intel-rapl:0/energy_uj"), 0)
	if a := NewRAPL(Options{SysfsRoot: root}).Availability(); a.Available || !strings.Contains(a.Reason, "permission denied") {
		t.Fatalf("availability = %+v", a)
	}
}

func TestRAPLNoPowercap(t *testing.T) {
	a := NewRAPL(Options{SysfsRoot: t.TempDir()}).Availability()
	if a.Available || !strings.Contains(a.Reason, "no RAPL zones") || a.Fix == "" {
		t.Fatalf("availability without powercap = %+v", a)
	}
}

func TestRAPLReadErrorIsReported(t *testing.T) {
	root := fakeSysfs(t, fakeZone{"intel-rapl:0", "package-0", 1, maxRange})
	r, err := NewRAPL(Options{SysfsRoot: root}).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "class/powercap/intel-rapl:0/energy_uj"), "garbage\n")
	if _, err := r.Read(); err == nil || !strings.Contains(err.Error(), "package-0") {
		t.Fatalf("read of a corrupt counter: err = %v, want one naming the zone", err)
	}
}

func TestIsRAPLPackage(t *testing.T) {
	for name, want := range map[string]bool{
		"package-0": true, "package-12": true, "package-0-die-1": true,
		"package-": false, "package-x": false, "core": false, "psys": false, "package-0-die-": false,
	} {
		if got := isRAPLPackage(name); got != want {
			t.Errorf("isRAPLPackage(%q) = %v", name, got)
		}
	}
}
