package thermal

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ReadSysfs reads Linux's thermal and power state from a sysfs tree rooted
// at root ("/sys" on a real machine):
//
//	class/thermal/thermal_zone*/{type,temp}          temperatures in m°C
//	devices/system/cpu/cpu*/cpufreq/{scaling_cur_freq,cpuinfo_max_freq}   kHz
//	devices/system/cpu/cpu*/thermal_throttle/{core,package}_throttle_count
//	class/power_supply/*/{type,online,status}        mains and batteries
//
// Files that are missing or unreadable (VMs and containers lack most of
// them; some zones answer EIO) are skipped, and what could not be read at
// all is listed in Unreadable.
func ReadSysfs(root string) State {
	var s State
	if name, c, ok := hottestZone(root); ok {
		s.HottestC, s.HottestZone = &c, name
	} else {
		s.Unreadable = append(s.Unreadable, "no readable thermal zone in "+filepath.Join(root, "class/thermal"))
	}
	if mhz, ratio, ok := cpuFreq(root); ok {
		s.CPUFreqMHz, s.CPUFreqRatio = &mhz, &ratio
	} else {
		s.Unreadable = append(s.Unreadable, "no readable cpufreq in "+filepath.Join(root, "devices/system/cpu"))
	}
	if n, ok := throttleEvents(root); ok {
		s.ThrottleEvents = &n
	}
	if b, ok := onBattery(root); ok {
		s.OnBattery = &b
	} else {
		s.Unreadable = append(s.Unreadable, "no mains or battery in "+filepath.Join(root, "class/power_supply"))
	}
	return s
}

func readTrim(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

func readInt(path string) (int64, bool) {
	s, ok := readTrim(path)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// hottestZone returns the hottest zone's type and °C. Readings outside
// −50…150 °C are sensor errors (disconnected probes read −273 or 127),
// not temperatures, and are skipped.
func hottestZone(root string) (name string, celsius float64, ok bool) {
	zones, _ := filepath.Glob(filepath.Join(root, "class/thermal/thermal_zone*"))
	sort.Strings(zones)
	for _, z := range zones {
		milli, ok1 := readInt(filepath.Join(z, "temp"))
		c := float64(milli) / 1000
		if !ok1 || c < -50 || c > 150 {
			continue
		}
		if !ok || c > celsius {
			typ, _ := readTrim(filepath.Join(z, "type"))
			if typ == "" {
				typ = filepath.Base(z)
			}
			name, celsius, ok = typ, c, true
		}
	}
	return name, celsius, ok
}

// cpuFreq returns the mean current frequency in MHz and its ratio to the
// highest maximum frequency of any core.
func cpuFreq(root string) (meanMHz, ratio float64, ok bool) {
	cpus, _ := filepath.Glob(filepath.Join(root, "devices/system/cpu/cpu[0-9]*"))
	var sum, maxKHz float64
	n := 0
	for _, c := range cpus {
		cur, ok1 := readInt(filepath.Join(c, "cpufreq/scaling_cur_freq"))
		if !ok1 || cur <= 0 {
			continue
		}
		sum += float64(cur)
		n++
		if m, ok2 := readInt(filepath.Join(c, "cpufreq/cpuinfo_max_freq")); ok2 && float64(m) > maxKHz {
			maxKHz = float64(m)
		}
	}
	if n == 0 || maxKHz <= 0 {
		return 0, 0, false
	}
	meanKHz := sum / float64(n)
	return meanKHz / 1000, meanKHz / maxKHz, true
}

// throttleEvents sums the per-core counters and adds the package counter
// once per package (every core of a package shows the same package count,
// so the largest is taken).
func throttleEvents(root string) (int64, bool) {
	cpus, _ := filepath.Glob(filepath.Join(root, "devices/system/cpu/cpu[0-9]*"))
	var core, pkg int64
	ok := false
	for _, c := range cpus {
		if n, ok1 := readInt(filepath.Join(c, "thermal_throttle/core_throttle_count")); ok1 {
			core += n
			ok = true
		}
		if n, ok1 := readInt(filepath.Join(c, "thermal_throttle/package_throttle_count")); ok1 {
			pkg = max(pkg, n)
			ok = true
		}
	}
	return core + pkg, ok
}

// onBattery decides from the power supplies: any mains (or USB) supply
// online means mains; otherwise any system battery (discharging, or simply
// with no mains feeding it) means battery. Peripheral batteries (a mouse's,
// scope Device) do not count. With neither, the OS says nothing.
func onBattery(root string) (battery, ok bool) {
	supplies, _ := filepath.Glob(filepath.Join(root, "class/power_supply/*"))
	batteries := 0
	for _, p := range supplies {
		typ, _ := readTrim(filepath.Join(p, "type"))
		switch typ {
		case "Mains", "USB", "USB_C", "USB_PD", "Wireless":
			if online, ok1 := readInt(filepath.Join(p, "online")); ok1 && online == 1 {
				return false, true
			}
		case "Battery":
			if scope, _ := readTrim(filepath.Join(p, "scope")); scope != "Device" {
				batteries++
			}
		}
	}
	return batteries > 0, batteries > 0
}

// ParsePmset reads `pmset -g ps` (macOS): its first line says "Now drawing
// from 'AC Power'" or "'Battery Power'" (or 'UPS Power').
func ParsePmset(out string) (battery bool, err error) {
	for _, line := range strings.Split(out, "\n") {
		_, rest, found := strings.Cut(line, "drawing from '")
		if !found {
			continue
		}
		src, _, _ := strings.Cut(rest, "'")
		switch src {
		case "Battery Power":
			return true, nil
		case "AC Power", "UPS Power":
			return false, nil
		}
		return false, fmt.Errorf("pmset: unknown power source %q", src)
	}
	return false, fmt.Errorf("pmset: no 'Now drawing from' line in %q", firstLine(out))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// PressureName names macOS's NSProcessInfoThermalState values.
func PressureName(v int) string {
	switch v {
	case 0:
		return "nominal"
	case 1:
		return "fair"
	case 2:
		return "serious"
	case 3:
		return "critical"
	}
	return fmt.Sprintf("unknown (%d)", v)
}
