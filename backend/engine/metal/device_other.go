//go:build !darwin

package metal

import "runtime"

// Open returns the system's default Metal device; there is none off macOS.
func Open() (Device, error) {
	return nil, &noDeviceError{"Metal exists only on macOS (this is " + runtime.GOOS + ")"}
}

type noDeviceError struct{ why string }

func (e *noDeviceError) Error() string { return ErrNoDevice.Error() + ": " + e.why }
func (e *noDeviceError) Unwrap() error { return ErrNoDevice }
