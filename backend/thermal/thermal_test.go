package thermal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree writes a fake sysfs tree (path → content) and returns its root.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestReadSysfs(t *testing.T) {
	// A laptop unplugged: two CPUs at 2.0 and 1.0 GHz of a 4.0 GHz maximum
	// (mean 1.5 GHz = 37.5%), the hottest sane zone at 71.5 °C (a broken
	// probe's −273 °C is skipped), a mouse battery that must not count,
	// throttle counters 3 + 4 per core plus the package's 10 once.
	laptop := tree(t, map[string]string{
		"class/thermal/thermal_zone0/type":                                "acpitz\n",
		"class/thermal/thermal_zone0/temp":                                "45000\n",
		"class/thermal/thermal_zone1/type":                                "x86_pkg_temp\n",
		"class/thermal/thermal_zone1/temp":                                "71500\n",
		"class/thermal/thermal_zone2/type":                                "broken\n",
		"class/thermal/thermal_zone2/temp":                                "-273000\n",
		"devices/system/cpu/cpu0/cpufreq/scaling_cur_freq":                "2000000\n",
		"devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq":                "4000000\n",
		"devices/system/cpu/cpu1/cpufreq/scaling_cur_freq":                "1000000\n",
		"devices/system/cpu/cpu1/cpufreq/cpuinfo_max_freq":                "4000000\n",
		"devices/system/cpu/cpu0/thermal_throttle/core_throttle_count":    "3\n",
		"devices/system/cpu/cpu1/thermal_throttle/core_throttle_count":    "4\n",
		"devices/system/cpu/cpu0/thermal_throttle/package_throttle_count": "10\n",
		"devices/system/cpu/cpu1/thermal_throttle/package_throttle_count": "10\n",
		"class/power_supply/AC/type":                                      "Mains\n",
		"class/power_supply/AC/online":                                    "0\n",
		"class/power_supply/BAT0/type":                                    "Battery\n",
		"class/power_supply/BAT0/status":                                  "Discharging\n",
		"class/power_supply/hid-mouse/type":                               "Battery\n",
		"class/power_supply/hid-mouse/scope":                              "Device\n",
	})
	s := ReadSysfs(laptop)
	if s.HottestC == nil || *s.HottestC != 71.5 || s.HottestZone != "x86_pkg_temp" {
		t.Errorf("hottest zone: %v %q", s.HottestC, s.HottestZone)
	}
	if s.CPUFreqMHz == nil || *s.CPUFreqMHz != 1500 || s.CPUFreqRatio == nil || *s.CPUFreqRatio != 0.375 {
		t.Errorf("cpu freq: %v MHz, ratio %v", s.CPUFreqMHz, s.CPUFreqRatio)
	}
	if s.ThrottleEvents == nil || *s.ThrottleEvents != 17 {
		t.Errorf("throttle events: %v, want 3+4+10", s.ThrottleEvents)
	}
	if s.OnBattery == nil || !*s.OnBattery {
		t.Errorf("on battery: %v", s.OnBattery)
	}
	if len(s.Unreadable) != 0 {
		t.Errorf("unreadable: %v", s.Unreadable)
	}

	// Plugged in: the mains supply is online.
	plugged := tree(t, map[string]string{
		"class/power_supply/ACAD/type":   "Mains",
		"class/power_supply/ACAD/online": "1",
		"class/power_supply/BAT1/type":   "Battery",
		"class/power_supply/BAT1/status": "Charging",
	})
	if s := ReadSysfs(plugged); s.OnBattery == nil || *s.OnBattery {
		t.Errorf("plugged in: on battery = %v", s.OnBattery)
	}

	// A VM: nothing to read. Nothing is made up; each gap says where it looked.
	vm := ReadSysfs(tree(t, map[string]string{"class/thermal/cooling_device0/type": "Processor"}))
	if vm.HottestC != nil || vm.CPUFreqRatio != nil || vm.OnBattery != nil || vm.ThrottleEvents != nil || len(vm.Unreadable) != 3 {
		t.Errorf("vm: %+v", vm)
	}
	if vm.Summary() != "not reported" {
		t.Errorf("vm summary: %q", vm.Summary())
	}

	// A desktop with only a mouse battery says nothing about battery.
	desk := ReadSysfs(tree(t, map[string]string{"class/power_supply/m/type": "Battery", "class/power_supply/m/scope": "Device"}))
	if desk.OnBattery != nil {
		t.Errorf("desktop: on battery = %v", *desk.OnBattery)
	}
}

func TestParsePmset(t *testing.T) {
	// Output of `pmset -g ps` on a MacBook (macOS 14).
	onBattery := "Now drawing from 'Battery Power'\n -InternalBattery-0 (id=4653155)\t83%; discharging; 6:12 remaining present: true\n"
	onAC := "Now drawing from 'AC Power'\n -InternalBattery-0 (id=4653155)\t100%; charged; 0:00 remaining present: true\n"
	desktop := "Now drawing from 'AC Power'\n"
	for _, c := range []struct {
		out     string
		battery bool
		err     bool
	}{{onBattery, true, false}, {onAC, false, false}, {desktop, false, false}, {"garbage", false, true}, {"Now drawing from 'Solar'", false, true}} {
		b, err := ParsePmset(c.out)
		if (err != nil) != c.err || b != c.battery {
			t.Errorf("%q: %v %v", firstLine(c.out), b, err)
		}
	}
}

func f(v float64) *float64 { return &v }
func i(v int64) *int64     { return &v }
func b(v bool) *bool       { return &v }

func TestDifferences(t *testing.T) {
	cool := &Conditions{Start: &State{HottestC: f(45), CPUFreqRatio: f(0.95), OnBattery: b(false), ThrottleEvents: i(5)},
		End: &State{CPUFreqRatio: f(0.93), OnBattery: b(false), ThrottleEvents: i(5)}}
	hot := &Conditions{Start: &State{HottestC: f(82), CPUFreqRatio: f(0.60), OnBattery: b(true), ThrottleEvents: i(5)},
		End: &State{CPUFreqRatio: f(0.50), OnBattery: b(true), ThrottleEvents: i(9)}}
	unplugged := &Conditions{Start: &State{OnBattery: b(true)}}
	mac := func(p string) *Conditions {
		return &Conditions{Start: &State{Pressure: p}, End: &State{Pressure: "nominal"}}
	}

	cases := []struct {
		name   string
		groups []Group
		want   []string // substrings, one per expected warning, in order
	}{
		{"same conditions", []Group{{"A", []*Conditions{cool, cool}}, {"B", []*Conditions{cool}}}, nil},
		{"everything differs", []Group{{"A", []*Conditions{cool, cool}}, {"B", []*Conditions{hot, hot}}},
			[]string{"A ran on mains, B on battery", "A started at 45 °C, B at 82 °C", "94% of its maximum frequency in A but 55% in B", "throttled the CPU during runs of B but not of A"}},
		{"macOS thermal state", []Group{{"A", []*Conditions{mac("nominal")}}, {"B", []*Conditions{mac("serious")}}},
			[]string{`reached "nominal" in A but "serious" in B`}},
		{"runs without readings are skipped", []Group{{"A", []*Conditions{nil}}, {"B", []*Conditions{hot}}}, nil},
		{"9 °C apart is not a warning", []Group{
			{"A", []*Conditions{{Start: &State{HottestC: f(50)}}}},
			{"B", []*Conditions{{Start: &State{HottestC: f(59)}}}}}, nil},
		{"mixed power inside a group", []Group{{"A", []*Conditions{cool, unplugged}}, {"B", []*Conditions{cool}}},
			[]string{"A ran partly on battery, B on mains"}},
	}
	for _, c := range cases {
		got := Differences(c.groups)
		if got == nil {
			t.Errorf("%s: nil slice", c.name)
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %d warnings %q, want %d", c.name, len(got), got, len(c.want))
			continue
		}
		for k, w := range c.want {
			if !strings.Contains(got[k], w) {
				t.Errorf("%s: warning %d = %q, want it to contain %q", c.name, k, got[k], w)
			}
		}
	}
}

func TestSummary(t *testing.T) {
	s := State{Pressure: "fair", HottestC: f(61.4), CPUFreqRatio: f(0.874), OnBattery: b(false)}
	if got, want := s.Summary(), "thermal state fair · hottest zone 61 °C · CPU at 87% of max frequency · on mains"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
