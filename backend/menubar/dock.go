package menubar

// The activation policies of NSApplication (NSApplication.h).
const (
	policyRegular   = 0 // a Dock icon and an app menu: the dashboard window is open
	policyAccessory = 1 // menu bar only
)

// dockPolicy decides when the app shows a Dock icon: while the dashboard
// window is on screen (so Cmd-Tab finds it), and not otherwise. The window
// is never closed, only hidden (Wails' HideWindowOnClose hides the whole app
// with [NSApp hide:]), so hiding is what takes the Dock icon away again.
type dockPolicy struct {
	current int
	set     bool // current has been applied at least once
}

// windowShown returns the policy to apply when the window is brought up,
// and whether it differs from the one in force.
func (d *dockPolicy) windowShown() (policy int, change bool) {
	return d.apply(policyRegular)
}

// appHidden returns the policy to apply when the app (and with it the
// window) was hidden.
func (d *dockPolicy) appHidden() (policy int, change bool) {
	return d.apply(policyAccessory)
}

// launched returns the policy for a freshly launched app, which Wails has
// just forced to regular behind our back: always applied.
func (d *dockPolicy) launched() int {
	d.current, d.set = policyAccessory, true
	return policyAccessory
}

func (d *dockPolicy) apply(p int) (int, bool) {
	change := !d.set || d.current != p
	d.current, d.set = p, true
	return p, change
}

// WindowBehaviour says how the desktop app's window should behave. Where
// there is a status item (macOS), the app lives in the menu bar: the window
// starts hidden, opens from the menu, and closing it only hides it.
// Elsewhere nothing could bring a hidden window back, so it shows at launch
// and closing it quits.
func WindowBehaviour() (startHidden, hideOnClose bool) {
	return statusItemSupported, statusItemSupported
}
