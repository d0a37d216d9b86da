//go:build arm64 && linux

package compute

import (
	"math/rand/v2"
	"runtime/debug"
	"syscall"
	"testing"
	"unsafe"
)

// guarded returns n bytes that end where an inaccessible page begins, so
// reading one byte past them faults.
func guarded(t *testing.T, n int) []byte {
	t.Helper()
	page := syscall.Getpagesize()
	size := (n+page-1)/page*page + page
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[size-page:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	return mem[size-page-n : size-page]
}

func guardedCopy[T any](t *testing.T, s []T) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	b := guarded(t, len(s)*size)
	out := unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(s))
	copy(out, s)
	return out
}

// TestSDOTReadsOnlyItsRow puts the weight row and each activation array
// flush against an inaccessible page: a kernel that reads past the end of
// what it was given faults (a panic here, through SetPanicOnFault).
func TestSDOTReadsOnlyItsRow(t *testing.T) {
	requireDotProd(t)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	rng := rand.New(rand.NewPCG(27, 28))
	for _, dt := range sdotTypes {
		values, _ := dt.blockLayout()
		for _, blocks := range []int{1, 3, 4, 5} {
			cols := blocks * values
			w, err := Quantize(dt, randF32(rng, cols), cols)
			if err != nil {
				t.Fatal(err)
			}
			var a qact
			a.quantize(randF32(rng, cols), 1, cols, actBlock(dt))
			row := a.row(0)
			want := sdotKernel(dt, w, row)
			g := actRow{qs: guardedCopy(t, row.qs), d: guardedCopy(t, row.d), s16: guardedCopy(t, row.s16), s32: guardedCopy(t, row.s32)}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s blocks=%d: the kernel read past its input: %v", dt, blocks, r)
					}
				}()
				if got := sdotKernel(dt, guardedCopy(t, w), g); got != want {
					t.Errorf("%s blocks=%d: %g from guarded memory, %g from the heap", dt, blocks, got, want)
				}
			}()
		}
	}
}
