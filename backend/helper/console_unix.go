//go:build unix

package helper

import (
	"os"
	"syscall"
)

// consoleUID is the owner of /dev/console: on macOS, the user logged in at
// the screen (root while the login window shows).
func consoleUID() (uint32, bool) {
	fi, err := os.Stat("/dev/console")
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}
