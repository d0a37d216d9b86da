package menubar

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

// The API the app calls must be safe without build tags: on Linux Start says
// ErrUnsupported and the nil *Bar's methods do nothing.
func TestStartOutsideMacOS(t *testing.T) {
	if runtime.GOOS == "darwin" {
		t.Skip("creates a real status item on macOS")
	}
	bar, err := Start(context.Background(), Options{})
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Start = %v, want ErrUnsupported", err)
	}
	bar.Refresh()
	bar.SetDockIconVisible(true)
	bar.Close()
}
