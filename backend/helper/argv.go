package helper

import (
	"fmt"
	"strconv"
	"strings"
)

// PowermetricsPath is the only binary the installed helper runs. It is an
// absolute path so neither PATH nor the working directory can substitute
// another program.
const PowermetricsPath = "/usr/bin/powermetrics"

// Identity of the installed helper. The launchd plist in build/darwin uses the
// same label and socket path.
const (
	Label             = "com.energyprofiler.helper"
	PlistName         = Label + ".plist"
	DefaultSocketPath = "/var/run/" + Label + ".sock"

	// BundleHelperName is the helper binary's name in the app bundle's
	// Contents/MacOS; the SMAppService plist's BundleProgram points at it.
	BundleHelperName = "energyprofiler-helper"
)

// Interval limits in ms. Below ~100 ms powermetrics overshoots badly (a
// request of 100 gives 103–108 ms, apple-power.md a), and above 10 s a live
// view is useless.
const (
	MinIntervalMS     = 100
	MaxIntervalMS     = 10000
	DefaultIntervalMS = 1000
)

// Samplers is the fixed sampler list: CPU, GPU and ANE power. The expensive
// "tasks" sampler is deliberately absent.
const Samplers = "cpu_power,gpu_power,ane_power"

// SamplersMacOS12 is the list for macOS 12 and older, which have no
// ane_power sampler: it came with macOS 13 Ventura, the release that also
// removed the bandwidth sampler (tlkh/asitop#41, where powermetrics' -h
// lists it as new). An unknown sampler makes powermetrics exit with
// "unrecognized sampler". ANE power is still there on 12: cpu_power reports
// it ("ANE Power" in backend/power/testdata/powermetrics/m1-text-1.txt,
// macOS 12.6 with -s cpu_power alone).
const SamplersMacOS12 = "cpu_power,gpu_power"

// SamplersFor returns the sampler list for a macOS major version (0:
// unknown, taken as current).
func SamplersFor(macOSMajor int) string {
	if macOSMajor > 0 && macOSMajor < 13 {
		return SamplersMacOS12
	}
	return Samplers
}

// ClampInterval bounds a requested interval to [MinIntervalMS, MaxIntervalMS].
func ClampInterval(ms uint32) int {
	return int(min(max(ms, MinIntervalMS), MaxIntervalMS))
}

// Argv is powermetrics' argument list (without argv[0]) for an interval on
// this Mac: ArgvFor with this system's macOS version.
func Argv(intervalMS uint32) []string {
	return ArgvFor(intervalMS, MacOSMajor())
}

// ArgvFor is the whole of what the helper ever passes to powermetrics:
// plist to stdout, line buffered, invalid values marked instead of aborting
// the stream (--handle-invalid-values), and the samplers of that macOS
// version. There is no -o/-u (an output file written by root is a symlink
// attack), no --show-initial-usage (its first sample covers the time since
// boot) and no value that comes from the client except the clamped integer.
func ArgvFor(intervalMS uint32, macOSMajor int) []string {
	return []string{"-f", "plist", "-b", "1", "--handle-invalid-values", "-i", strconv.Itoa(ClampInterval(intervalMS)), "-s", SamplersFor(macOSMajor)}
}

// SudoArgv is the command line for the sudoers fallback: the app runs it with
// `sudo -n` and reads powermetrics' stdout itself. It must match SudoersRule
// word for word, or sudo asks for a password.
func SudoArgv(intervalMS uint32) []string {
	return append([]string{"/usr/bin/sudo", "-n", PowermetricsPath}, Argv(intervalMS)...)
}

// SudoersRule is the /etc/sudoers.d line that lets user run exactly
// powermetrics with Argv(interval) and nothing else. sudoers matches the
// arguments literally, so `-o /etc/…` or any other flag is refused; a bare
// `NOPASSWD: /usr/bin/powermetrics` would let any process running as the
// user make root overwrite files. One rule per interval.
func SudoersRule(user string, intervalMS uint32) (string, error) {
	if !validUserName(user) {
		return "", fmt.Errorf("sudoers rule: %q is not a plain user name (letters, digits, '.', '_', '-')", user)
	}
	// sudoers needs ',' and ':' escaped inside arguments.
	args := strings.Join(Argv(intervalMS), " ")
	args = strings.NewReplacer(",", `\,`, ":", `\:`).Replace(args)
	return fmt.Sprintf("%s ALL = (root) NOPASSWD: %s %s", user, PowermetricsPath, args), nil
}

func validUserName(u string) bool {
	if u == "" || len(u) > 64 || u[0] == '-' {
		return false
	}
	for _, r := range u {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}
