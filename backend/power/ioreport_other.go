//go:build !darwin

package power

import (
	"context"
	"runtime"
)

func (s *IOReport) Availability() Availability {
	return unavailable("IOReport is a macOS (Apple Silicon) interface; this is "+runtime.GOOS, "none on this OS")
}

func (s *IOReport) Open(ctx context.Context) (Reader, error) {
	return nil, unavailableError(s.Name(), s.Availability())
}
