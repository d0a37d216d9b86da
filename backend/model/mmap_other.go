//go:build !unix

package model

import "os"

// mapFile reads path into one buffer on platforms without mmap support in
// this package. It is still the only copy of the weights.
func mapFile(path string) (data []byte, release func() error, err error) {
	data, err = os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}

// mapped reports whether this build memory-maps weights (not here).
const mapped = false
