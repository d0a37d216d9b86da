package profiler

import (
	"strings"
	"testing"
)

func TestCPUInfoModel(t *testing.T) {
	cases := map[string]string{
		"testdata/cpuinfo-x86.txt": "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
		"testdata/cpuinfo-arm.txt": "Raspberry Pi 5 Model B Rev 1.0",
		"testdata/missing.txt":     "",
	}
	for path, want := range cases {
		if got := cpuinfoModel(path); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	if h := DetectHost(); h.OS == "" || h.Arch == "" || h.CPUs < 1 {
		t.Errorf("DetectHost() = %+v", h)
	}
}

func TestResolution(t *testing.T) {
	for src, want := range map[string]float64{"ioreport": 1, "nvml": 1, "rapl": 0.061, "cpu-load": 0, "replay:x": 0} {
		if got := DefaultResolutionMJ(src); got != want {
			t.Errorf("%s: %v, want %v", src, got, want)
		}
	}
}

// A machine's id is a hash, stable for one machine, different between
// machines, never the raw id; a chosen name replaces the host name.
func TestMachineIdentity(t *testing.T) {
	raw := "4f1c2a9e8d7b6c5a4f1c2a9e8d7b6c5a"
	id1, name1 := MachineIdentity("", "alice-mbp", raw)
	id2, _ := MachineIdentity("", "alice-mbp.local", raw)
	other, _ := MachineIdentity("", "alice-mbp", "0000000000000000000000000000beef")
	named, name := MachineIdentity("ci-runner-gpu", "runner-8f3k2", "")
	renamed, _ := MachineIdentity("ci-runner-gpu", "runner-x7z1q", "random")
	byHost, _ := MachineIdentity("", "gpu-box", "")
	switch {
	case name1 != "alice-mbp" || name != "ci-runner-gpu":
		t.Errorf("names %q %q", name1, name)
	case id1 != id2:
		t.Error("a renamed host changed the machine id")
	case id1 == other:
		t.Error("two machines share an id")
	case named != renamed:
		t.Error("a chosen name must give the same id whatever the host")
	case strings.Contains(id1, raw) || len(id1) != 32 || byHost == "" || byHost == id1:
		t.Errorf("ids %q %q", id1, byHost)
	}
	if got := ioregPlatformUUID("  \"IOPlatformSerialNumber\" = \"C02\"\n  \"IOPlatformUUID\" = \"A1B2C3D4-0000-1111-2222-333344445555\"\n"); got != "A1B2C3D4-0000-1111-2222-333344445555" {
		t.Errorf("ioreg UUID %q", got)
	}
}
