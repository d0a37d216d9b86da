//go:build !unix

package model

import "os"

// mapFile reads path into one buffer on platforms without mmap support in
// this package. It is still the only copy of the weights.
func mapFile(path string) (data []byte, stamp FileStamp, release func() error, err error) {
	stamp, err = Stamp(path)
	if err != nil {
		return nil, stamp, nil, err
	}
	data, err = os.ReadFile(path)
	if err != nil {
		return nil, stamp, nil, err
	}
	return data, stamp, func() error { return nil }, nil
}

// releasePages: nothing to release where the weights are read, not mapped.
func releasePages([]byte) error { return nil }

// mapped reports whether this build memory-maps weights (not here).
const mapped = false
