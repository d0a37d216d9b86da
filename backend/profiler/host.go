package profiler

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// DetectHost describes this machine: OS, CPU model (from /proc/cpuinfo on
// Linux, sysctl on macOS) and GPU where known (NVIDIA's procfs on Linux; on
// Apple Silicon the GPU is part of the chip).
func DetectHost() Host {
	h := Host{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}
	h.Hostname, _ = os.Hostname()
	h.ID, h.Hostname = MachineIdentity(os.Getenv(EnvMachine), h.Hostname, rawMachineID())
	switch runtime.GOOS {
	case "linux":
		h.OS = linuxPrettyName()
		h.CPU = cpuinfoModel("/proc/cpuinfo")
		h.GPU = nvidiaGPUs("/proc/driver/nvidia/gpus")
	case "darwin":
		h.OS = "macOS " + sysctl("kern.osproductversion")
		h.CPU = sysctl("machdep.cpu.brand_string")
		if strings.HasPrefix(h.CPU, "Apple") {
			h.GPU = h.CPU + " GPU"
		}
	}
	return h
}

// EnvMachine names the environment variable that names this machine in
// place of its host name: for CI runners and containers whose host names
// (and machine ids) change on every run, or to give a machine a name people
// know. The machine's id is then derived from that name.
const EnvMachine = "ENERGYPROFILER_MACHINE"

// MachineIdentity returns a machine's id and name. The id is a hash of
// the operating system's machine id (hashed with this program's own key,
// so the raw id, which other programs use, is never stored or sent), or of
// the chosen name when one is given, or else of the host name.
func MachineIdentity(chosen, hostname, rawID string) (id, name string) {
	name = hostname
	seed := "machine-id " + rawID
	switch {
	case chosen != "":
		name, seed = chosen, "name "+chosen
	case rawID == "":
		seed = "hostname " + hostname
	}
	sum := sha256.Sum256([]byte("energyprofiler machine " + seed))
	return hex.EncodeToString(sum[:16]), name
}

// rawMachineID is the operating system's id of this machine: systemd's
// machine-id on Linux, the IOPlatformUUID on macOS; "" when unknown.
func rawMachineID() string {
	switch runtime.GOOS {
	case "linux":
		for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
			if b, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(b))) > 0 {
				return strings.TrimSpace(string(b))
			}
		}
	case "darwin":
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice").Output()
		if err == nil {
			return ioregPlatformUUID(string(out))
		}
	}
	return ""
}

// ioregPlatformUUID finds `"IOPlatformUUID" = "…"` in ioreg's output.
func ioregPlatformUUID(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if _, v, ok := strings.Cut(line, `"IOPlatformUUID" = "`); ok {
			return strings.TrimSuffix(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

func linuxPrettyName() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "linux"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return "linux (" + strings.Trim(v, `"`) + ")"
		}
	}
	return "linux"
}

// cpuinfoModel returns the "model name" line of a cpuinfo file (x86), else
// its "Model" line, else its "Hardware" line (ARM boards).
func cpuinfoModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var boardModel, hardware string
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name":
			return v
		case "Model":
			boardModel = v
		case "Hardware":
			hardware = v
		}
	}
	if boardModel != "" {
		return boardModel
	}
	return hardware
}

func nvidiaGPUs(dir string) string {
	infos, _ := filepath.Glob(filepath.Join(dir, "*", "information"))
	var names []string
	for _, p := range infos {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Model:"); ok {
				names = append(names, strings.TrimSpace(v))
			}
		}
	}
	return strings.Join(names, ", ")
}

func sysctl(name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/sbin/sysctl", "-n", name).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// DefaultResolutionMJ is the counter resolution per reading, in mJ, of the
// known counter sources, matched by name prefix: IOReport's Energy Model
// counts whole mJ; NVML's total-energy counter counts mJ; RAPL counts in its
// energy unit (15.3–61 µJ; 0.061 mJ is the coarsest common one). Unknown
// sources get 0 (no resolution term).
func DefaultResolutionMJ(source string) float64 {
	s := strings.ToLower(source)
	switch {
	case strings.HasPrefix(s, "ioreport"), strings.HasPrefix(s, "nvml"):
		return 1
	case strings.HasPrefix(s, "rapl"):
		return 0.061
	}
	return 0
}
