//go:build unix

package helper

import (
	"sync"
	"syscall"
)

// umaskMu serialises umask changes: the umask belongs to the process.
var umaskMu sync.Mutex

// withUmask runs fn with the process umask set to mask, then restores it.
// The helper creates no other files, so nothing else sees the change.
func withUmask(mask int, fn func() error) error {
	umaskMu.Lock()
	defer umaskMu.Unlock()
	old := syscall.Umask(mask)
	defer syscall.Umask(old)
	return fn()
}
