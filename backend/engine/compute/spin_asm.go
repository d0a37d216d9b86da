//go:build amd64 || arm64

package compute

// spinPause hints to the core that it is in a spin-wait loop: PAUSE on
// amd64, YIELD on arm64 (the instructions the Go runtime's own spin locks
// use). See Pool for why it matters.
func spinPause()
