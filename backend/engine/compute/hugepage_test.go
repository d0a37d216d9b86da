package compute

import (
	"runtime"
	"testing"
	"unsafe"
)

// TestHugePageBytes checks the arena the x16 weights live in: exactly n
// usable bytes, and on Linux, from 2 MiB on, starting on a 2 MiB boundary
// (the kernel can back only whole aligned 2 MiB stretches with a huge page).
func TestHugePageBytes(t *testing.T) {
	for _, n := range []int{0, 1, 4095, 2<<20 - 1, 2 << 20, 5<<20 + 3} {
		b := hugePageBytes(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("n=%d: len %d cap %d", n, len(b), cap(b))
		}
		for i := range b {
			b[i] = byte(i)
		}
		if runtime.GOOS == "linux" && n >= 2<<20 {
			if a := uintptr(unsafe.Pointer(&b[0])) % (2 << 20); a != 0 {
				t.Errorf("n=%d: starts %d bytes past a 2 MiB boundary", n, a)
			}
		}
	}
}
