//go:build !amd64 && !arm64

package compute

// spinPause: no spin-wait hint on this architecture.
func spinPause() {}
