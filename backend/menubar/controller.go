package menubar

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Renderer draws the status item. The darwin implementation queues each call
// onto the main thread; calls come from the Controller's goroutine.
type Renderer interface {
	SetTitle(title string)
	SetMenu(items []Item)
}

// Controller decides what the status item shows and runs menu actions. It
// reads the watts once per Interval, re-reads the recent runs and power
// status every ListEvery (or at once after Refresh or a quick profile), and
// hands the Renderer only what changed.
type Controller struct {
	opts Options
	r    Renderer
	kick chan struct{} // a structural change: render now, not at the next tick

	mu        sync.Mutex
	ctx       context.Context // Run's; quick profiles get it
	quick     QuickState
	runs      []RunItem
	power     string
	listsAt   time.Time
	listsDue  bool
	title     string
	titleAt   time.Time
	menu      []Item
	menuDrawn bool
}

// NewController returns a Controller drawing on r.
func NewController(opts Options, r Renderer) *Controller {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.ListEvery <= 0 {
		opts.ListEvery = 5 * time.Second
	}
	return &Controller{opts: opts, r: r, kick: make(chan struct{}, 1), ctx: context.Background(), listsDue: true}
}

// Run updates the status item until ctx ends. Quick profiles started from
// the menu get ctx, so they stop with it.
func (c *Controller) Run(ctx context.Context) {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	c.step(time.Now(), true)
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c.step(now, true)
		case <-c.kick:
			c.step(time.Now(), false)
		}
	}
}

// Refresh re-reads the recent runs and power status and redraws at once;
// the app calls it when a run is stored or the power source changes.
func (c *Controller) Refresh() {
	c.mu.Lock()
	c.listsDue = true
	c.mu.Unlock()
	c.poke()
}

func (c *Controller) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// step computes the title and menu at now and draws what changed. A tick may
// always redraw the title; an extra step between ticks (a kick) redraws the
// menu but leaves the title alone until Interval has passed, so the title
// changes about once a second however fast progress arrives.
func (c *Controller) step(now time.Time, tick bool) {
	c.mu.Lock()
	loadLists := c.listsDue || now.Sub(c.listsAt) >= c.opts.ListEvery
	c.mu.Unlock()

	// The app's functions run outside the lock: they may be slow (a query)
	// and may call back into the Controller.
	var runs []RunItem
	var power string
	if loadLists {
		if c.opts.RecentRuns != nil {
			runs = c.opts.RecentRuns()
		}
		if c.opts.PowerStatus != nil {
			power = c.opts.PowerStatus()
		}
	}
	var p Power
	var ok bool
	if c.opts.Watts != nil {
		p, ok = c.opts.Watts()
	}
	var quickLabel string
	if c.opts.QuickProfileLabel != nil {
		quickLabel = c.opts.QuickProfileLabel()
	}

	c.mu.Lock()
	if loadLists {
		c.runs, c.power, c.listsAt, c.listsDue = runs, power, now, false
	}
	title := Title(p, ok, c.quick)
	menu := BuildMenu(MenuState{
		QuickAvailable:   c.opts.Actions.QuickProfile != nil,
		QuickLabel:       quickLabel,
		Quick:            c.quick,
		DashboardEnabled: c.opts.Actions.OpenDashboard != nil,
		Runs:             c.runs,
		RunsOpenable:     c.opts.Actions.OpenRun != nil,
		PowerStatus:      c.power,
		PowerOpenable:    c.opts.Actions.OpenPowerStatus != nil,
		QuitEnabled:      c.opts.Actions.Quit != nil,
		Now:              now,
	})
	drawTitle := title != c.title && (tick || now.Sub(c.titleAt) >= c.opts.Interval)
	if drawTitle {
		c.title, c.titleAt = title, now
	}
	drawMenu := !c.menuDrawn || !equalMenus(menu, c.menu)
	if drawMenu {
		c.menu, c.menuDrawn = menu, true
	}
	c.mu.Unlock()

	if drawTitle {
		c.r.SetTitle(title)
	}
	if drawMenu {
		c.r.SetMenu(menu)
	}
}

// Activate runs a clicked item's action on a goroutine and returns at once:
// it is called on the main thread, which must not wait.
func (c *Controller) Activate(it Item) {
	a := c.opts.Actions
	switch it.Action {
	case ActQuickProfile:
		c.startQuickProfile()
	case ActOpenDashboard:
		c.goAction("open dashboard", a.OpenDashboard)
	case ActOpenRun, ActOpenLastQuick:
		if a.OpenRun != nil && it.RunID != "" {
			id := it.RunID
			c.goAction("open run "+id, func() { a.OpenRun(id) })
		}
	case ActPowerStatus:
		c.goAction("open power status", a.OpenPowerStatus)
	case ActQuit:
		c.goAction("quit", a.Quit)
	}
}

// Quick returns the quick profile's state.
func (c *Controller) Quick() QuickState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.quick
}

func (c *Controller) startQuickProfile() {
	run := c.opts.Actions.QuickProfile
	if run == nil {
		return
	}
	c.mu.Lock()
	if c.quick.Running { // a second click while one runs does nothing
		c.mu.Unlock()
		return
	}
	c.quick.Running = true
	c.quick.Progress = Progress{Phase: "starting"}
	c.quick.LastErr = ""
	ctx := c.ctx
	c.mu.Unlock()
	c.poke()

	progress := func(p Progress) {
		c.mu.Lock()
		if c.quick.Running {
			c.quick.Progress = p
		}
		c.mu.Unlock()
	}
	go func() {
		id, err := c.protect("quick profile", func() (string, error) { return run(ctx, progress) })
		c.mu.Lock()
		c.quick.Running = false
		c.quick.Progress = Progress{}
		if err != nil {
			c.quick.LastErr = firstLine(err.Error())
		} else {
			c.quick.LastRunID = id
		}
		c.listsDue = true
		c.mu.Unlock()
		c.poke()
	}()
}

func (c *Controller) goAction(name string, fn func()) {
	if fn == nil {
		return
	}
	go c.protect(name, func() (string, error) { fn(); return "", nil })
}

// protect turns a panic in the app's action into an error and a log line, so
// a bug behind one menu item does not take the app down.
func (c *Controller) protect(name string, fn func() (string, error)) (id string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s panicked: %v", name, r)
		}
		if err != nil && c.opts.Logf != nil {
			c.opts.Logf("menubar: %s: %v", name, err)
		}
	}()
	return fn()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
