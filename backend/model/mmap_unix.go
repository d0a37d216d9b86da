//go:build unix

package model

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapFile maps path read-only into memory and returns the file's identity
// as mapped (see FileStamp). The returned release unmaps it; the bytes must
// not be used afterwards. Pages load on first touch, so a large model costs
// address space until the engine reads it.
func mapFile(path string) (data []byte, stamp FileStamp, release func() error, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, stamp, nil, err
	}
	defer f.Close() // the mapping outlives the descriptor
	st, err := f.Stat()
	if err != nil {
		return nil, stamp, nil, err
	}
	stamp = FileStamp{Path: path, info: st}
	size := st.Size()
	if size == 0 {
		return []byte{}, stamp, func() error { return nil }, nil
	}
	if size != int64(int(size)) {
		return nil, stamp, nil, fmt.Errorf("%d bytes is too large to map on this platform", size)
	}
	data, err = unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, stamp, nil, fmt.Errorf("mmap: %w", err)
	}
	return data, stamp, func() error { return unix.Munmap(data) }, nil
}

// releasePages advises the OS that the whole pages inside b, a part of a
// read-only file mapping, are not needed for now (MADV_DONTNEED): they
// leave the process's resident memory, stay in the page cache, and a later
// read maps them back. b must lie in a mapping made by mapFile: on
// anonymous memory the same advice would zero it.
func releasePages(b []byte) error {
	page := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (start + page - 1) &^ (page - 1)
	hi := (start + uintptr(len(b))) &^ (page - 1)
	if hi <= lo {
		return nil
	}
	return unix.Madvise(b[lo-start:hi-start], unix.MADV_DONTNEED)
}

// mapped reports whether this build memory-maps weights (it does on unix).
const mapped = true
