package menubar

import (
	"runtime"
	"testing"
)

// The review found the Dock icon stayed after the first "Open Dashboard":
// nothing switched back when the window went away.
func TestDockIconFollowsTheWindow(t *testing.T) {
	var d dockPolicy
	if p := d.launched(); p != policyAccessory {
		t.Fatalf("at launch: policy %d, want accessory", p)
	}
	steps := []struct {
		event      func() (int, bool)
		wantPolicy int
		wantChange bool
	}{
		{d.windowShown, policyRegular, true},
		{d.windowShown, policyRegular, false}, // a second Open Dashboard
		{d.appHidden, policyAccessory, true},  // the window was closed (hidden)
		{d.appHidden, policyAccessory, false},
		{d.windowShown, policyRegular, true}, // opened again
	}
	for i, s := range steps {
		p, c := s.event()
		if p != s.wantPolicy || c != s.wantChange {
			t.Errorf("step %d: policy %d change %v, want %d %v", i, p, c, s.wantPolicy, s.wantChange)
		}
	}
}

// Only where a status item can bring the window back may it start hidden
// and hide on close; on Linux the window must show and closing must quit.
func TestWindowBehaviourNeedsAStatusItem(t *testing.T) {
	hidden, hideOnClose := WindowBehaviour()
	want := runtime.GOOS == "darwin"
	if hidden != want || hideOnClose != want {
		t.Errorf("WindowBehaviour() = %v, %v on %s; want %v, %v", hidden, hideOnClose, runtime.GOOS, want, want)
	}
}
