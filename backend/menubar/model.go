// Package menubar owns the macOS status item: the menu-bar title showing the
// machine's current watts and a menu for quick profiling, the dashboard,
// recent runs, the power source and quitting.
//
// Everything that is not an Objective-C call — title text, the menu model,
// recent-run labels, the 1 Hz update loop, quick-profile progress — is plain
// Go in this file and controller.go, tested on Linux. menubar_darwin.go only
// draws what the Controller hands it, through purego/objc on the main
// thread; menubar_other.go reports that there is no status item elsewhere.
//
// The package knows nothing of the store, the profiler or the power sampler:
// the app passes small functions in Options.
package menubar

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Power is the reading the title shows.
type Power struct {
	Watts     float64
	Source    string // e.g. "IOReport", "powermetrics", "CPU-load model"
	Estimated bool   // a model's number, not a measurement
}

// WattsSource returns the latest total power, or ok=false when no source is
// delivering (the title then says so instead of showing 0). It is called
// once per update from the Controller's goroutine and must return quickly.
type WattsSource func() (p Power, ok bool)

// RunItem is one stored run for the Recent Runs submenu.
type RunItem struct {
	ID          string
	Model       string
	Started     time.Time
	EnergyJ     float64
	EnergyKnown bool // false: the run has no energy figure (shown as "n/a", never 0)
	Estimated   bool // the energy comes from an estimate
	Failed      bool
}

// Progress is what a running quick profile reports.
type Progress struct {
	Phase string // e.g. "loading", "prefill", "decode"
	Done  int    // tokens generated so far
	Total int    // tokens to generate; 0 when unknown
}

// Actions are what the menu does. Each runs on its own goroutine, never on
// the main thread; a nil action's item is left out of the menu.
type Actions struct {
	// QuickProfile profiles the last used model and prompt (or the demo
	// model), calling progress as it goes, and returns the stored run's id.
	// ctx ends when the status item is closed.
	QuickProfile func(ctx context.Context, progress func(Progress)) (runID string, err error)
	// OpenDashboard shows the main window.
	OpenDashboard func()
	// OpenRun shows a stored run's analysis.
	OpenRun func(id string)
	// OpenPowerStatus shows the power-source details (the doctor view).
	OpenPowerStatus func()
	// Quit ends the app.
	Quit func()
}

// Options configure a status item.
type Options struct {
	Watts WattsSource
	// RecentRuns returns stored runs, newest first; the menu shows 5.
	RecentRuns func() []RunItem
	// PowerStatus is one line about the power source, e.g.
	// "IOReport: measured (CPU, GPU, ANE, DRAM)".
	PowerStatus func() string
	// QuickProfileLabel names what Quick Profile will run, e.g.
	// `demo-tiny · "Once upon a time"`.
	QuickProfileLabel func() string
	Actions           Actions

	// Interval between title updates; default 1 s.
	Interval time.Duration
	// ListEvery is how often recent runs and the power status are re-read;
	// default 5 s. Refresh forces it.
	ListEvery time.Duration
	// Logf receives action errors. Nil discards them.
	Logf func(format string, args ...any)
}

// MaxRecentRuns is how many runs the Recent Runs submenu lists.
const MaxRecentRuns = 5

// maxLabel keeps menu items a readable width.
const maxLabel = 60

// FormatWatts renders a power for the title: one decimal below 100 W, none
// above; "n/a" for what is not a number.
func FormatWatts(w float64) string {
	switch {
	case math.IsNaN(w) || math.IsInf(w, 0) || w < 0:
		return "n/a"
	case w < 99.95:
		return fmt.Sprintf("%.1f W", w)
	default:
		return fmt.Sprintf("%.0f W", w)
	}
}

// Title is the status item's text: ⚡ and the watts (marked "~… est" when
// estimated, "n/a" when unavailable), plus quick-profile progress.
func Title(p Power, ok bool, q QuickState) string {
	var b strings.Builder
	b.WriteString("⚡ ")
	switch {
	case !ok || FormatWatts(p.Watts) == "n/a":
		b.WriteString("n/a")
	case p.Estimated:
		b.WriteString("~" + FormatWatts(p.Watts) + " est")
	default:
		b.WriteString(FormatWatts(p.Watts))
	}
	if q.Running {
		b.WriteString(" · ")
		b.WriteString(ProgressText(q.Progress, true))
	}
	return b.String()
}

// ProgressText describes a quick profile's progress: a percentage when the
// token total is known, else the phase. short is for the title.
func ProgressText(p Progress, short bool) string {
	if p.Total > 0 && p.Done >= 0 {
		pct := min(100, p.Done*100/p.Total)
		if short {
			return fmt.Sprintf("%d%%", pct)
		}
		return fmt.Sprintf("%d/%d tokens (%d%%)", min(p.Done, p.Total), p.Total, pct)
	}
	if p.Phase != "" {
		return p.Phase + "…"
	}
	return "starting…"
}

// RunLabel is a recent run's menu text: model, energy, start time.
func RunLabel(r RunItem, now time.Time) string {
	model := r.Model
	if model == "" {
		model = "run " + shortID(r.ID)
	}
	var energy string
	switch {
	case r.Failed:
		energy = "failed"
	case !r.EnergyKnown || math.IsNaN(r.EnergyJ) || r.EnergyJ < 0:
		energy = "energy n/a"
	case r.Estimated:
		energy = "~" + formatJoules(r.EnergyJ) + " est"
	default:
		energy = formatJoules(r.EnergyJ)
	}
	return truncate(fmt.Sprintf("%s · %s · %s", model, energy, when(r.Started, now)), maxLabel)
}

func formatJoules(j float64) string {
	switch {
	case j >= 1000:
		return fmt.Sprintf("%.2f kJ", j/1000)
	case j >= 100:
		return fmt.Sprintf("%.0f J", j)
	default:
		return fmt.Sprintf("%.1f J", j)
	}
}

// when is a compact start time: clock time today, else the date.
func when(t, now time.Time) string {
	if t.IsZero() {
		return "time unknown"
	}
	t = t.In(now.Location())
	y1, m1, d1 := t.Date()
	y2, m2, d2 := now.Date()
	if y1 == y2 && m1 == m2 && d1 == d2 {
		return t.Format("15:04")
	}
	if y1 == y2 {
		return t.Format("Jan 2 15:04")
	}
	return t.Format("Jan 2 2006")
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Action says what a menu item does.
type Action int

const (
	ActNone Action = iota // an information line
	ActQuickProfile
	ActOpenDashboard
	ActOpenRun
	ActOpenLastQuick
	ActPowerStatus
	ActQuit
)

// Item is one menu entry in platform-neutral form. Tags are unique within a
// built menu (children included) and start at 1, so the native menu can
// carry them and a click maps back to its Item.
type Item struct {
	Tag       int
	Label     string
	Enabled   bool
	Separator bool
	Action    Action
	RunID     string // for ActOpenRun and ActOpenLastQuick
	Key       string // key equivalent, e.g. "q"
	Children  []Item // a submenu
}

// QuickState is the quick profile's state.
type QuickState struct {
	Running   bool
	Progress  Progress
	LastErr   string // the last attempt's error, shown until the next attempt
	LastRunID string // the last successful run
}

// MenuState is everything the menu shows.
type MenuState struct {
	QuickAvailable   bool   // Actions.QuickProfile is set
	QuickLabel       string // what Quick Profile runs
	Quick            QuickState
	DashboardEnabled bool
	Runs             []RunItem
	RunsOpenable     bool // Actions.OpenRun is set
	PowerStatus      string
	PowerOpenable    bool
	QuitEnabled      bool
	Now              time.Time
}

// BuildMenu lays out the menu for a state.
func BuildMenu(st MenuState) []Item {
	var items []Item
	add := func(it Item) { items = append(items, it) }
	sep := func() {
		if len(items) > 0 && !items[len(items)-1].Separator {
			add(Item{Separator: true})
		}
	}

	if st.QuickAvailable {
		switch {
		case st.Quick.Running:
			add(Item{Label: "Profiling… " + ProgressText(st.Quick.Progress, false)})
		default:
			label := "Quick Profile"
			if st.QuickLabel != "" {
				label += ": " + st.QuickLabel
			}
			add(Item{Label: truncate(label, maxLabel), Enabled: true, Action: ActQuickProfile, Key: "p"})
		}
		if st.Quick.LastErr != "" && !st.Quick.Running {
			add(Item{Label: truncate("Last quick profile failed: "+st.Quick.LastErr, maxLabel)})
		}
		if st.Quick.LastRunID != "" && !st.Quick.Running && st.RunsOpenable {
			add(Item{Label: "Open Last Quick Profile", Enabled: true, Action: ActOpenLastQuick, RunID: st.Quick.LastRunID})
		}
		sep()
	}
	if st.DashboardEnabled {
		add(Item{Label: "Open Dashboard", Enabled: true, Action: ActOpenDashboard, Key: "d"})
	}
	if st.RunsOpenable {
		recent := Item{Label: "Recent Runs", Enabled: true}
		runs := st.Runs[:min(len(st.Runs), MaxRecentRuns)]
		for _, r := range runs {
			recent.Children = append(recent.Children, Item{Label: RunLabel(r, st.Now), Enabled: r.ID != "", Action: ActOpenRun, RunID: r.ID})
		}
		if len(runs) == 0 {
			recent.Children = []Item{{Label: "No runs yet"}}
		}
		add(recent)
	}
	sep()
	power := st.PowerStatus
	if power == "" {
		power = "unknown"
	}
	pi := Item{Label: truncate("Power: "+power, maxLabel)}
	if st.PowerOpenable {
		pi.Enabled, pi.Action = true, ActPowerStatus
	}
	add(pi)
	if st.QuitEnabled {
		sep()
		add(Item{Label: "Quit Energy Profiler", Enabled: true, Action: ActQuit, Key: "q"})
	}
	numberTags(items, new(int))
	return items
}

func numberTags(items []Item, next *int) {
	for i := range items {
		if items[i].Separator {
			continue
		}
		*next++
		items[i].Tag = *next
		numberTags(items[i].Children, next)
	}
}

// FindTag returns the item with a tag, searching submenus.
func FindTag(items []Item, tag int) (Item, bool) {
	for _, it := range items {
		if it.Tag == tag && !it.Separator {
			return it, true
		}
		if found, ok := FindTag(it.Children, tag); ok {
			return found, true
		}
	}
	return Item{}, false
}

// equalMenus reports whether two built menus draw the same.
func equalMenus(a, b []Item) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Tag != y.Tag || x.Label != y.Label || x.Enabled != y.Enabled || x.Separator != y.Separator ||
			x.Action != y.Action || x.RunID != y.RunID || x.Key != y.Key || !equalMenus(x.Children, y.Children) {
			return false
		}
	}
	return true
}
