package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"energyprofiler/backend/profiler"
	"energyprofiler/backend/thermal"
)

// ErrCannotCompare wraps Compare's refusals of what was asked (a run that
// has not finished, too few or too many groups).
var ErrCannotCompare = errors.New("cannot compare")

// GroupMachine is a machine whose runs are in a comparison group, and how
// its energy was measured there.
type GroupMachine struct {
	ID      string               `json:"id"`
	Name    string               `json:"name"`
	CPU     string               `json:"cpu,omitempty"`
	GPU     string               `json:"gpu,omitempty"`
	Sources []profiler.SourceUse `json:"power_sources"`
}

// Comparison is profiler.Comparison with where each group's runs ran:
// Machines[i] are group i's machines. Its Warnings say what makes the
// groups hard to compare (different thermal or power conditions, different
// power sources, a group mixing machines); nothing is refused for it.
type Comparison struct {
	*profiler.Comparison
	Machines [][]GroupMachine `json:"machines"`
}

// CompareGroup is one group of runs to compare.
type CompareGroup struct {
	IDs []string
	// Repeat, when set, is the repeat group the runs came from: its runs
	// that have not finished are left out, and the label says so.
	Repeat string
}

// Groups makes one group of each run id list.
func Groups(ids ...[]string) []CompareGroup {
	out := make([]CompareGroup, len(ids))
	for i, g := range ids {
		out[i] = CompareGroup{IDs: g}
	}
	return out
}

// Compare compares groups of runs (2 to 4 groups of one or more run ids).
// With byMachine the runs of every group are pooled and regrouped by the
// machine they ran on (2 to 4 machines), to compare machines on the same
// work. Only each run's row and summary are read, not its bulky children.
func (s *Store) Compare(ctx context.Context, groups []CompareGroup, byMachine bool) (*Comparison, error) {
	type run struct {
		info profiler.RunInfo
		sum  *profiler.Summary
	}
	var loaded [][]run
	var repeats []string
	for _, g := range groups {
		var runs []run
		for _, id := range g.IDs {
			rec, _, err := s.head(ctx, id)
			if err != nil {
				return nil, err
			}
			if rec.Summary == nil {
				if g.Repeat != "" {
					continue // a repeat still running, or one that failed
				}
				return nil, fmt.Errorf("%w: run %s has no summary (status %s); only finished runs can be compared", ErrCannotCompare, id, rec.Run.Status)
			}
			runs = append(runs, run{rec.Run, rec.Summary})
		}
		if len(runs) == 0 && g.Repeat != "" {
			return nil, fmt.Errorf("%w: repeat group %s has no finished run yet", ErrCannotCompare, g.Repeat)
		}
		if len(runs) > 0 {
			loaded = append(loaded, runs)
			repeats = append(repeats, g.Repeat)
		}
	}
	if byMachine {
		var order []string
		byID := map[string][]run{}
		for _, g := range loaded {
			for _, r := range g {
				key := machineKey(r.info.Host)
				if _, ok := byID[key]; !ok {
					order = append(order, key)
				}
				byID[key] = append(byID[key], r)
			}
		}
		loaded, repeats = loaded[:0], nil
		for _, key := range order {
			loaded = append(loaded, byID[key])
			repeats = append(repeats, "")
		}
		if len(loaded) < 2 || len(loaded) > 4 {
			return nil, fmt.Errorf("%w by machine: these runs were made on %d machine(s); pick runs from 2 to 4 machines", ErrCannotCompare, len(loaded))
		}
	}
	if len(loaded) < 2 || len(loaded) > 4 {
		return nil, fmt.Errorf("%w: give 2 to 4 runs or groups, got %d", ErrCannotCompare, len(loaded))
	}

	out := &Comparison{}
	var pgroups []profiler.Group
	var conds []thermal.Group
	machineNames := map[string]bool{}
	for gi, g := range loaded {
		var tg thermal.Group
		var machines []GroupMachine
		pg := profiler.Group{}
		var short []string
		for _, r := range g {
			pg.Summaries = append(pg.Summaries, r.sum)
			tg.Runs = append(tg.Runs, r.info.Host.Conditions)
			short = append(short, r.info.ID[:min(8, len(r.info.ID))])
			i := slices.IndexFunc(machines, func(m GroupMachine) bool { return m.ID == machineKey(r.info.Host) })
			if i < 0 {
				machines = append(machines, GroupMachine{ID: machineKey(r.info.Host), Name: machineName(r.info.Host), CPU: r.info.Host.CPU, GPU: r.info.Host.GPU})
				i = len(machines) - 1
			}
			for _, src := range r.info.Sources {
				if !slices.ContainsFunc(machines[i].Sources, func(u profiler.SourceUse) bool { return u.Name == src.Name }) {
					machines[i].Sources = append(machines[i].Sources, src)
				}
			}
		}
		machineNames[machines[0].ID] = true
		models := []string{}
		for _, r := range g {
			if !slices.Contains(models, r.info.ModelName) {
				models = append(models, r.info.ModelName)
			}
		}
		switch repeat := repeats[gi]; {
		case byMachine:
			pg.Label = machines[0].Name + " · " + strings.Join(models, ", ")
		case repeat != "":
			pg.Label = fmt.Sprintf("%s ×%d (group %s)", strings.Join(models, ", "), len(g), repeat[:min(8, len(repeat))])
		default:
			pg.Label = strings.Join(models, ", ") + " " + strings.Join(short, "+")
		}
		pgroups = append(pgroups, pg)
		conds = append(conds, tg)
		out.Machines = append(out.Machines, machines)
	}
	// Name the machine in every label when the groups ran on several.
	if !byMachine && len(machineNames) > 1 {
		for i := range pgroups {
			pgroups[i].Label += " @ " + out.Machines[i][0].Name
		}
	}
	c, err := profiler.Compare(pgroups)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCannotCompare, err)
	}
	for i := range conds {
		conds[i].Label = pgroups[i].Label
	}
	out.Comparison = c
	out.Warnings = append(append([]string{}, thermal.Differences(conds)...), compareWarnings(c, out.Machines)...)
	return out, nil
}

// machineKey and machineName tell runs recorded before machines were
// (no id) apart by host name.
func machineKey(h profiler.Host) string {
	if h.ID != "" {
		return h.ID
	}
	return "host:" + h.Hostname
}

func machineName(h profiler.Host) string {
	if h.Hostname != "" {
		return h.Hostname
	}
	return "unknown machine"
}

// compareWarnings says where energy was measured differently: groups whose
// power sources differ (IOReport on a Mac and RAPL on a Linux box measure
// different parts of different machines, and an estimate is no
// measurement), and groups that mix machines.
func compareWarnings(c *profiler.Comparison, machines [][]GroupMachine) []string {
	warnings := []string{}
	describe := func(ms []GroupMachine) string {
		var parts []string
		for _, m := range ms {
			parts = append(parts, m.Name+" ("+sourcesText(m.Sources)+")")
		}
		return strings.Join(parts, ", ")
	}
	for i, ms := range machines {
		if len(ms) > 1 {
			warnings = append(warnings, fmt.Sprintf("%q mixes runs from %d machines: %s; its spread includes the machines' differences", c.Groups[i].Label, len(ms), describe(ms)))
		}
	}
	sets := make([]string, len(machines))
	differ := false
	for i, ms := range machines {
		var names []string
		for _, m := range ms {
			for _, s := range m.Sources {
				names = append(names, s.Name+"/"+string(s.Kind))
			}
		}
		slices.Sort(names)
		sets[i] = strings.Join(slices.Compact(names), ",")
		if sets[i] != sets[0] {
			differ = true
		}
	}
	if differ {
		var parts []string
		for i, ms := range machines {
			parts = append(parts, fmt.Sprintf("%q on %s", c.Groups[i].Label, describe(ms)))
		}
		warnings = append(warnings, "Energy was measured with different power sources: "+strings.Join(parts, "; ")+
			". Each source covers different parts of its machine (package, DRAM, GPU, the whole system) and estimates are not measurements, so energy differences mix the machines with the meters; times and token rates compare directly.")
	}
	return warnings
}

func sourcesText(sources []profiler.SourceUse) string {
	if len(sources) == 0 {
		return "no power source"
	}
	var parts []string
	for _, s := range sources {
		parts = append(parts, fmt.Sprintf("%s, %s", s.Name, s.Kind))
	}
	return strings.Join(parts, "; ")
}
