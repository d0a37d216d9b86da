//go:build !linux

package compute

// hugePageBytes returns n bytes: only Linux is asked for huge pages
// (hugepage_linux.go).
func hugePageBytes(n int) []byte { return make([]byte, n) }
