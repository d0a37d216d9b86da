package profiler

import "testing"

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
