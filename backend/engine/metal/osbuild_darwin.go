//go:build darwin

package metal

import "golang.org/x/sys/unix"

// OSBuild is the macOS build (kern.osversion, e.g. "23E224"): a GPU driver
// changes with it, so a self-test result holds for one build.
func OSBuild() string {
	v, err := unix.Sysctl("kern.osversion")
	if err != nil {
		return "unknown"
	}
	return "macOS " + v
}
