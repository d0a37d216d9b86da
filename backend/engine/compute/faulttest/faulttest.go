//go:build unix

// Package faulttest holds what the tests of the memory-fault guard (see
// compute.Pool.Parallel and compute.IsFault) share: whether this platform
// reports a read of a truncated memory mapping as a fault with its address.
package faulttest

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"golang.org/x/sys/unix"
)

// SkipWithoutFaultAddresses skips t where a read of a truncated mapping
// does not come back as a memory fault with its address: qemu's user-mode
// emulation (make test-arm64) delivers SIGBUS with address 0, which Go
// reports as a nil dereference, so faults cannot be told apart there and
// the guard cannot apply.
func SkipWithoutFaultAddresses(t testing.TB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(path, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ, unix.MAP_SHARED)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(data)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	hasAddr := func() (ok bool) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			_, ok = recover().(interface{ Addr() uintptr })
		}()
		if data[0] == 42 { // the read faults (the page is gone)
			return false
		}
		return false
	}()
	if !hasAddr {
		t.Skip("this platform reports a fault on a truncated mapping without its address (qemu user-mode emulation)")
	}
}
