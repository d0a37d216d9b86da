//go:build !darwin

package power

import (
	"errors"
	"runtime"
)

func ioreportChannelNames() ([]string, Availability) {
	return nil, unavailable("IOReport is a macOS (Apple Silicon) interface; this is "+runtime.GOOS, "none on this OS")
}

func openIOReportSession() (ioreportDeltas, error) {
	return nil, errors.New("IOReport is macOS-only")
}
