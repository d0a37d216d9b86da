//go:build unix

package compute

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"golang.org/x/sys/unix"

	"energyprofiler/backend/engine/compute/faulttest"
)

// sumTask reads every page of a mapped file.
type sumTask struct {
	data []byte
	sums []byte
}

func (t *sumTask) Run(worker, lo, hi int) {
	for i := lo; i < hi; i++ {
		t.sums[worker] += t.data[i*4096]
	}
}

// A file truncated under its mapping faults the workers that read it; the
// pool hands the fault to the caller as a recoverable panic (IsFault)
// instead of the process dying of SIGBUS, and stays usable.
func TestPoolHandsAMappedFileFaultToTheCaller(t *testing.T) {
	faulttest.SkipWithoutFaultAddresses(t)
	const pages = 256
	path := filepath.Join(t.TempDir(), "weights")
	if err := os.WriteFile(path, make([]byte, pages*4096), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, pages*4096, unix.PROT_READ, unix.MAP_SHARED)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(data)
	p := NewPool(2)
	defer p.Close()
	task := &sumTask{data: data, sums: make([]byte, p.Workers())}
	p.Parallel(pages, 1, task) // all pages there: no fault

	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	for _, workers := range []*Pool{p, NewPool(1)} {
		func() {
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			defer func() {
				r := recover()
				if !IsFault(r) {
					t.Errorf("%d workers: recovered %v, want a memory fault", workers.Workers(), r)
				}
			}()
			workers.Parallel(pages, 1, task)
			t.Errorf("%d workers: reading a truncated mapping did not fault", workers.Workers())
		}()
	}
	// The pool still runs tasks.
	ok := &sumTask{data: make([]byte, pages*4096), sums: make([]byte, p.Workers())}
	p.Parallel(pages, 1, ok)
}
