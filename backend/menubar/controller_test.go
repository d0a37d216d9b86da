package menubar

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRenderer records what the Controller draws.
type fakeRenderer struct {
	mu     sync.Mutex
	titles []string
	menus  [][]Item
}

func (f *fakeRenderer) SetTitle(s string) { f.mu.Lock(); f.titles = append(f.titles, s); f.mu.Unlock() }
func (f *fakeRenderer) SetMenu(m []Item)  { f.mu.Lock(); f.menus = append(f.menus, m); f.mu.Unlock() }

func (f *fakeRenderer) snapshot() ([]string, [][]Item) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.titles...), append([][]Item(nil), f.menus...)
}

// wattsSeq returns a WattsSource whose value the test sets.
type wattsSeq struct {
	mu sync.Mutex
	p  Power
	ok bool
}

func (w *wattsSeq) set(watts float64) {
	w.mu.Lock()
	w.p, w.ok = Power{Watts: watts}, true
	w.mu.Unlock()
}
func (w *wattsSeq) get() (Power, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.p, w.ok
}

func TestControllerDrawsOnlyChanges(t *testing.T) {
	var w wattsSeq
	r := &fakeRenderer{}
	c := NewController(Options{Watts: w.get, Actions: Actions{Quit: func() {}}}, r)
	t0 := time.Unix(1000, 0)
	w.set(10)
	c.step(t0, true)
	c.step(t0.Add(time.Second), true) // same watts: nothing new
	w.set(11.04)
	c.step(t0.Add(2*time.Second), true)
	titles, menus := r.snapshot()
	if strings.Join(titles, "|") != "⚡ 10.0 W|⚡ 11.0 W" {
		t.Errorf("titles = %q", titles)
	}
	if len(menus) != 1 {
		t.Errorf("menu drawn %d times for an unchanged menu, want 1", len(menus))
	}
}

func TestControllerThrottlesTitleBetweenTicks(t *testing.T) {
	var w wattsSeq
	r := &fakeRenderer{}
	c := NewController(Options{Watts: w.get}, r)
	t0 := time.Unix(1000, 0)
	w.set(10)
	c.step(t0, true)
	w.set(20)
	c.step(t0.Add(200*time.Millisecond), false) // a kick 200 ms later: too soon
	c.step(t0.Add(900*time.Millisecond), false) // still too soon
	c.step(t0.Add(1000*time.Millisecond), false)
	w.set(30)
	c.step(t0.Add(1100*time.Millisecond), true) // a tick always draws a change
	titles, _ := r.snapshot()
	if strings.Join(titles, "|") != "⚡ 10.0 W|⚡ 20.0 W|⚡ 30.0 W" {
		t.Errorf("titles = %q", titles)
	}
}

func TestControllerReadsListsEveryListEvery(t *testing.T) {
	var calls atomic.Int32
	runs := func() []RunItem {
		calls.Add(1)
		return []RunItem{{ID: "r", Model: "m"}}
	}
	c := NewController(Options{RecentRuns: runs, ListEvery: 5 * time.Second, Actions: Actions{OpenRun: func(string) {}}}, &fakeRenderer{})
	t0 := time.Unix(1000, 0)
	for i := range 10 { // 10 s of ticks
		c.step(t0.Add(time.Duration(i)*time.Second), true)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("RecentRuns called %d times in 10 s at ListEvery 5 s, want 2", n)
	}
	c.Refresh()
	c.step(t0.Add(10*time.Second+time.Millisecond), false)
	if n := calls.Load(); n != 3 {
		t.Errorf("Refresh did not re-read runs (%d calls)", n)
	}
}

func TestQuickProfileFlow(t *testing.T) {
	var w wattsSeq
	w.set(25)
	release := make(chan error)
	var started atomic.Int32
	var progress func(Progress)
	ready := make(chan struct{})
	quick := func(ctx context.Context, p func(Progress)) (string, error) {
		started.Add(1)
		progress = p
		close(ready)
		if err := <-release; err != nil {
			return "", err
		}
		return "run-42", nil
	}
	var opened atomic.Value
	var runsCalls atomic.Int32
	r := &fakeRenderer{}
	c := NewController(Options{
		Watts:      w.get,
		RecentRuns: func() []RunItem { runsCalls.Add(1); return nil },
		Actions:    Actions{QuickProfile: quick, OpenRun: func(id string) { opened.Store(id) }},
	}, r)
	t0 := time.Unix(1000, 0)
	c.step(t0, true)
	_, menus := r.snapshot()
	item, ok := FindTag(menus[0], 1)
	if !ok || item.Action != ActQuickProfile {
		t.Fatalf("first item = %+v", item)
	}

	done := make(chan struct{})
	go func() { c.Activate(item); close(done) }()
	select {
	case <-done: // Activate returned while the profile is still blocked
	case <-time.After(2 * time.Second):
		t.Fatal("Activate blocked on the quick profile")
	}
	<-ready
	c.Activate(item) // a second click while running
	progress(Progress{Phase: "decode", Done: 48, Total: 64})
	c.step(t0.Add(time.Second), true)
	titles, menus := r.snapshot()
	if got := titles[len(titles)-1]; got != "⚡ 25.0 W · 75%" {
		t.Errorf("title while profiling = %q", got)
	}
	last := menus[len(menus)-1]
	if last[0].Label != "Profiling… 48/64 tokens (75%)" || last[0].Enabled {
		t.Errorf("menu while profiling = %+v", last[0])
	}

	release <- nil
	waitFor(t, func() bool { return !c.Quick().Running })
	if n := started.Load(); n != 1 {
		t.Errorf("quick profile started %d times, want 1", n)
	}
	before := runsCalls.Load()
	c.step(t0.Add(1500*time.Millisecond), false) // the kick after it finished
	if runsCalls.Load() == before {
		t.Error("recent runs not re-read after the quick profile stored a run")
	}
	if titles, _ := r.snapshot(); titles[len(titles)-1] != "⚡ 25.0 W · 75%" {
		t.Errorf("title redrawn 0.5 s after the last one: %q", titles[len(titles)-1])
	}
	c.step(t0.Add(2*time.Second), true)
	titles, menus = r.snapshot()
	if got := titles[len(titles)-1]; got != "⚡ 25.0 W" {
		t.Errorf("title after profiling = %q", got)
	}
	last = menus[len(menus)-1]
	var openLast Item
	for _, it := range last {
		if it.Action == ActOpenLastQuick {
			openLast = it
		}
	}
	if openLast.RunID != "run-42" {
		t.Fatalf("no Open Last Quick Profile for run-42 in %q", labels(last))
	}
	c.Activate(openLast)
	waitFor(t, func() bool { return opened.Load() == "run-42" })
}

func TestQuickProfileErrorAndPanic(t *testing.T) {
	var logged atomic.Int32
	calls := 0
	c := NewController(Options{
		Logf: func(string, ...any) { logged.Add(1) },
		Actions: Actions{QuickProfile: func(ctx context.Context, p func(Progress)) (string, error) {
			calls++
			if calls == 1 {
				return "", errors.New("load demo-tiny: config.json missing\nsecond line")
			}
			panic("boom")
		}},
	}, &fakeRenderer{})
	c.Activate(Item{Action: ActQuickProfile})
	waitFor(t, func() bool { q := c.Quick(); return !q.Running && q.LastErr != "" })
	if got := c.Quick().LastErr; got != "load demo-tiny: config.json missing" {
		t.Errorf("LastErr = %q", got)
	}
	c.Activate(Item{Action: ActQuickProfile})
	waitFor(t, func() bool { return strings.Contains(c.Quick().LastErr, "panicked: boom") })
	if logged.Load() != 2 {
		t.Errorf("logged %d errors, want 2", logged.Load())
	}
}

func TestActivateDispatchesActions(t *testing.T) {
	got := make(chan string, 4)
	c := NewController(Options{
		RecentRuns: func() []RunItem { return []RunItem{{ID: "r1", Model: "a"}, {ID: "r2", Model: "b"}} },
		Actions: Actions{
			OpenDashboard:   func() { got <- "dashboard" },
			OpenRun:         func(id string) { got <- "run " + id },
			OpenPowerStatus: func() { got <- "power" },
			Quit:            func() { got <- "quit" },
		},
	}, &fakeRenderer{})
	r := &fakeRenderer{}
	c.r = r
	c.step(time.Now(), true)
	_, menus := r.snapshot()
	menu := menus[0]
	want := map[string]bool{"dashboard": true, "run r2": true, "power": true, "quit": true}
	for _, label := range []string{"Open Dashboard", "b · energy n/a", "Power: unknown", "Quit Energy Profiler"} {
		it := findLabel(menu, label)
		if it.Tag == 0 {
			t.Fatalf("no item starting %q in %q", label, labels(menu))
		}
		byTag, _ := FindTag(menu, it.Tag)
		c.Activate(byTag)
		select {
		case g := <-got:
			if !want[g] {
				t.Errorf("clicking %q ran %q", label, g)
			}
			delete(want, g)
		case <-time.After(2 * time.Second):
			t.Fatalf("clicking %q ran nothing", label)
		}
	}
}

func findLabel(items []Item, prefix string) Item {
	for _, it := range items {
		if strings.HasPrefix(it.Label, prefix) {
			return it
		}
		if f := findLabel(it.Children, prefix); f.Tag != 0 {
			return f
		}
	}
	return Item{}
}

func TestRunLoopUpdatesAndStops(t *testing.T) {
	var w wattsSeq
	w.set(5)
	r := &fakeRenderer{}
	c := NewController(Options{Watts: w.get, Interval: 10 * time.Millisecond}, r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	waitFor(t, func() bool { ts, _ := r.snapshot(); return len(ts) == 1 })
	w.set(6)
	waitFor(t, func() bool { ts, _ := r.snapshot(); return len(ts) == 2 && ts[1] == "⚡ 6.0 W" })
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 3 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
