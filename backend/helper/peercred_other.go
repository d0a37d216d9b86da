//go:build !linux && !darwin

package helper

import (
	"errors"
	"fmt"
	"net"
)

// peerUID is unavailable here, so the server refuses every connection rather
// than serve an unchecked peer.
func peerUID(conn *net.UnixConn) (uint32, error) {
	return 0, fmt.Errorf("peer credentials on this OS: %w", errors.ErrUnsupported)
}
