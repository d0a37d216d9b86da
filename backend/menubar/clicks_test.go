package menubar

import (
	"testing"
	"time"
)

// Two menus as the Controller builds them: before and after a quick profile
// finished (an "Open Last Quick Profile" item and a new run appear).
func menusBeforeAndAfterQuickProfile() (before, after []Item) {
	now := time.Unix(2_000_000, 0)
	runs := []RunItem{
		{ID: "run-b", Model: "demo", Started: now.Add(-time.Hour), EnergyJ: 3, EnergyKnown: true},
		{ID: "run-a", Model: "demo", Started: now.Add(-2 * time.Hour), EnergyJ: 2, EnergyKnown: true},
	}
	st := MenuState{QuickAvailable: true, QuickLabel: "demo", DashboardEnabled: true, RunsOpenable: true,
		Runs: runs, PowerStatus: "IOReport", PowerOpenable: true, QuitEnabled: true, Now: now}
	before = BuildMenu(st)
	st.Quick.LastRunID = "run-c"
	st.Runs = append([]RunItem{{ID: "run-c", Model: "demo", Started: now, EnergyJ: 4, EnergyKnown: true}}, runs...)
	after = BuildMenu(st)
	return before, after
}

func itemWithAction(t *testing.T, items []Item, a Action) Item {
	t.Helper()
	var walk func([]Item) (Item, bool)
	walk = func(items []Item) (Item, bool) {
		for _, it := range items {
			if it.Action == a && !it.Separator {
				return it, true
			}
			if c, ok := walk(it.Children); ok {
				return c, true
			}
		}
		return Item{}, false
	}
	it, ok := walk(items)
	if !ok {
		t.Fatalf("no item with action %d", a)
	}
	return it
}

// TestTagLookupAfterRedrawFindsAnotherItem reproduces the review's defect:
// the status item used to map a click's tag to an Item in the newest menu.
// Redrawn while open, the newest menu has a run where the clicked Quit was.
func TestTagLookupAfterRedrawFindsAnotherItem(t *testing.T) {
	before, after := menusBeforeAndAfterQuickProfile()
	quit := itemWithAction(t, before, ActQuit)
	got, ok := FindTag(after, quit.Tag)
	if !ok || got.Action == ActQuit {
		t.Fatalf("expected the old lookup to go wrong; tag %d in the new menu is %+v", quit.Tag, got)
	}
	t.Logf("the old lookup: a click on %q (tag %d) would run %q (action %d)", quit.Label, quit.Tag, got.Label, got.Action)
}

// nativeMenu stands in for buildMenu on macOS: one fake handle per item.
func nativeMenu(items []Item, next *uintptr, into map[uintptr]Item) map[uintptr]Item {
	for _, it := range items {
		if it.Separator {
			continue
		}
		*next++
		into[*next] = it
		nativeMenu(it.Children, next, into)
	}
	return into
}

func senderOf(t *testing.T, m map[uintptr]Item, a Action) uintptr {
	t.Helper()
	for h, it := range m {
		if it.Action == a {
			return h
		}
	}
	t.Fatalf("no native item with action %d", a)
	return 0
}

// TestMenuBookRunsTheClickedItem drives the book as the darwin Bar does:
// a redraw arrives while the menu is open, AppKit closes the menu before it
// delivers the click, and the pending redraw lands in between.
func TestMenuBookRunsTheClickedItem(t *testing.T) {
	before, after := menusBeforeAndAfterQuickProfile()
	var next uintptr = 1000
	var b menuBook

	if !b.request(before) {
		t.Fatal("a closed menu must be drawable at once")
	}
	nativeBefore := nativeMenu(before, &next, map[uintptr]Item{})
	if rel := b.drawn(1, nativeBefore); len(rel) != 0 {
		t.Fatalf("released %v after one menu", rel)
	}

	b.opened()
	if b.request(after) {
		t.Fatal("the open menu was replaced")
	}
	quitSender := senderOf(t, nativeBefore, ActQuit)
	pending, redraw := b.closed() // menuDidClose: comes before the action
	if !redraw || len(pending) != len(after) {
		t.Fatalf("closed() = %d items, %v; want the waiting redraw", len(pending), redraw)
	}
	nativeAfter := nativeMenu(pending, &next, map[uintptr]Item{})
	b.drawn(2, nativeAfter)

	if it, ok := b.resolve(quitSender); !ok || it.Action != ActQuit {
		t.Fatalf("click on Quit resolved to %+v, %v", it, ok)
	}
	if it, ok := b.resolve(senderOf(t, nativeAfter, ActOpenLastQuick)); !ok || it.RunID != "run-c" {
		t.Fatalf("click on Open Last Quick Profile resolved to %+v, %v", it, ok)
	}
	if _, ok := b.resolve(99); ok {
		t.Fatal("an unknown sender resolved")
	}
	if _, redraw := b.closed(); redraw {
		t.Fatal("a redraw was delivered twice")
	}
}

func TestMenuBookReleasesOnlyOldMenus(t *testing.T) {
	var b menuBook
	var released []uintptr
	for h := uintptr(1); h <= 5; h++ {
		released = append(released, b.drawn(h, map[uintptr]Item{h * 10: {Label: "x"}})...)
	}
	if len(released) != 2 || released[0] != 1 || released[1] != 2 {
		t.Fatalf("released %v, want [1 2]", released)
	}
	if _, ok := b.resolve(10); ok {
		t.Error("a released menu's item still resolves")
	}
	if _, ok := b.resolve(30); !ok {
		t.Error("a kept menu's item does not resolve")
	}
}
