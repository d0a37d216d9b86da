//go:build !darwin

package metal

import "runtime"

// OSBuild identifies the OS for self-test results; off macOS there is no
// Metal, so it only needs to be stable.
func OSBuild() string { return runtime.GOOS }
