//go:build linux

package helper

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerUID returns the uid of the process on the other end of conn
// (SO_PEERCRED). Linux has it so the server's checks run in tests here.
func peerUID(conn *net.UnixConn) (uint32, error) {
	return peerUIDWith(conn, "SO_PEERCRED", func(fd int) (uint32, error) {
		cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			return 0, err
		}
		return cred.Uid, nil
	})
}
