//go:build !darwin

package helper

// MacOSMajor is 0 off macOS: no version, so the current sampler list.
func MacOSMajor() int { return 0 }
