//go:build !darwin

package metal_test

import (
	"errors"
	"testing"

	"energyprofiler/backend/engine/metal"
)

func TestOpenOffMacOS(t *testing.T) {
	if _, err := metal.Open(); !errors.Is(err, metal.ErrNoDevice) {
		t.Errorf("Open on this OS: %v, want ErrNoDevice", err)
	}
}
