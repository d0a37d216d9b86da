//go:build darwin

package helper

import "golang.org/x/sys/unix"

// MacOSMajor is this system's macOS major version (kern.osproductversion,
// e.g. "12.6.1" → 12), or 0 when it cannot be read.
func MacOSMajor() int {
	v, err := unix.Sysctl("kern.osproductversion")
	if err != nil {
		return 0
	}
	return parseMajor(v)
}
