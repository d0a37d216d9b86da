//go:build !linux

package compute

// requestAMX: only the Linux build knows how to ask for the tile state.
func requestAMX() bool { return false }
