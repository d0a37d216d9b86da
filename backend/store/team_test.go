package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"energyprofiler/backend/power"
	"energyprofiler/backend/profiler"
)

// onMachine makes rec a run of another machine measured by source.
func onMachine(rec *profiler.Record, id, name, source string, kind power.Kind) *profiler.Record {
	rec.Run.Host = profiler.Host{ID: id, Hostname: name, OS: "test", Arch: "amd64", CPU: name + " cpu", CPUs: 8}
	rec.Run.Sources = []profiler.SourceUse{{Name: source, Kind: kind, Domains: []power.Domain{power.DomainPackage}}}
	return rec
}

// A pushed run arrives whole, and pushing it again copies nothing.
func TestImportIsIdempotent(t *testing.T) { eachBackend(t, testImportIsIdempotent) }

func testImportIsIdempotent(t *testing.T, be backend) {
	ctx := context.Background()
	local := openTemp(t)
	team := be.open(t)
	rec := makeRecord(t, spec{model: "m", prompt: "pushed", tags: []string{"b", "a"}, tokens: 5, layers: 2, depth: "deep", watts: 7, experts: 4}, nil)
	onMachine(rec, "aaaa", "alice-mbp", "ioreport", power.KindCounter)
	if err := local.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	want, err := local.Get(ctx, rec.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Through JSON, as push sends it.
	var sent profiler.Record
	js, _ := json.Marshal(want)
	if err := json.Unmarshal(js, &sent); err != nil {
		t.Fatal(err)
	}
	created, err := team.Import(ctx, &sent, "alice-mbp")
	if err != nil || !created {
		t.Fatalf("first import: created %v, %v", created, err)
	}
	created, err = team.Import(ctx, &sent, "alice-mbp")
	if err != nil || created {
		t.Fatalf("second import: created %v, %v; want nothing copied", created, err)
	}
	got, err := team.Get(ctx, rec.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got)
	if string(a) != string(b) {
		t.Fatalf("pushed run differs:\nwant %s\ngot  %s", firstDiff(string(a), string(b)), firstDiff(string(b), string(a)))
	}
	have, err := team.Have(ctx, []string{rec.Run.ID, "00000000-0000-4000-8000-000000000000"})
	if err != nil || !reflect.DeepEqual(have, []string{rec.Run.ID}) {
		t.Errorf("Have = %v, %v", have, err)
	}
	var by string
	if err := team.db.QueryRow(`SELECT pushed_by FROM runs WHERE id = ?`, rec.Run.ID).Scan(&by); err != nil || by != "alice-mbp" {
		t.Errorf("pushed_by %q, %v", by, err)
	}
}

func TestImportRefusesWhatIsNotAFinishedRun(t *testing.T) {
	st := openTemp(t)
	ctx := context.Background()
	good := makeRecord(t, spec{model: "m", prompt: "p", tokens: 2, layers: 1, watts: 5}, nil)
	for name, mutate := range map[string]func(r *profiler.Record){
		"not a uuid":    func(r *profiler.Record) { r.Run.ID = "../../etc" },
		"running":       func(r *profiler.Record) { r.Run.Status = profiler.StatusRunning },
		"queued":        func(r *profiler.Record) { r.Run.Status = profiler.StatusQueued },
		"no model":      func(r *profiler.Record) { r.Run.ModelName = "" },
		"other summary": func(r *profiler.Record) { s := *r.Summary; s.RunID = "x"; r.Summary = &s },
		"no created_at": func(r *profiler.Record) { r.Run.CreatedAt = time.Time{} },
		"routing skewed": func(r *profiler.Record) {
			r.Routing = []profiler.RouteRecord{{Experts: []int{1, 2}, Weights: []float64{1}}}
		},
	} {
		r := *good
		mutate(&r)
		if _, err := st.Import(ctx, &r, "x"); !errors.Is(err, ErrInvalidRun) {
			t.Errorf("%s: %v, want ErrInvalidRun", name, err)
		}
	}
	if page, _ := st.List(ctx, Query{}); page.Total != 0 {
		t.Errorf("%d runs stored from refused imports", page.Total)
	}
}

// Twenty pushers copy runs into one database at once, each run sent by two
// of them (through one server's store, and for PostgreSQL through twenty
// stores, as twenty servers or machines writing directly): every run
// arrives exactly once and whole.
func TestConcurrentImportersLoseNothing(t *testing.T) {
	eachBackend(t, testConcurrentImportersLoseNothing)
}

func testConcurrentImportersLoseNothing(t *testing.T, be backend) {
	ctx := context.Background()
	loc := be.fresh(t)
	const pushers, perPusher = 20, 5
	base := makeRecord(t, spec{model: "m", prompt: "p", tokens: 6, layers: 2, depth: "module", watts: 5}, nil)
	var recs []*profiler.Record
	for i := 0; i < pushers*perPusher; i++ {
		r := *base
		r.Run.ID = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		sum := *base.Summary
		sum.RunID = r.Run.ID
		r.Summary = &sum
		onMachine(&r, fmt.Sprintf("m%02d", i%pushers), fmt.Sprintf("machine-%02d", i%pushers), "rapl", power.KindCounter)
		recs = append(recs, &r)
	}
	// The database exists (the team server made it) before they start.
	// SQLite is one machine's file: its team server's one store takes
	// every push. PostgreSQL takes twenty stores at once.
	server, err := Open(loc)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	var wg sync.WaitGroup
	created := make([]int, pushers)
	errs := make(chan error, pushers)
	for p := 0; p < pushers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			st := server
			if be.postgres() {
				var err error
				if st, err = Open(loc); err != nil {
					errs <- err
					return
				}
				defer st.Close()
			}
			// Its own runs, then its neighbour's, in opposite orders.
			mine := recs[p*perPusher : (p+1)*perPusher]
			next := (p + 1) % pushers
			theirs := slices.Clone(recs[next*perPusher : (next+1)*perPusher])
			slices.Reverse(theirs)
			for _, r := range append(slices.Clone(mine), theirs...) {
				c, err := st.Import(ctx, r, fmt.Sprintf("pusher-%d", p))
				if err != nil {
					errs <- fmt.Errorf("pusher %d: %w", p, err)
					return
				}
				if c {
					created[p]++
				}
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := 0
	for _, c := range created {
		total += c
	}
	if total != len(recs) {
		t.Errorf("%d imports created a run, want %d (each run once)", total, len(recs))
	}
	st := server
	page, err := st.List(ctx, Query{Limit: 1000})
	if err != nil || page.Total != len(recs) {
		t.Fatalf("%d runs stored (%v), want %d", page.Total, err, len(recs))
	}
	var tokens, comps int
	if err := st.db.QueryRow(`SELECT (SELECT count(*) FROM tokens), (SELECT count(*) FROM components)`).Scan(&tokens, &comps); err != nil {
		t.Fatal(err)
	}
	if tokens != len(recs)*len(base.Tokens) || comps != len(recs)*len(base.Components) {
		t.Errorf("%d token rows and %d component rows, want %d and %d", tokens, comps, len(recs)*len(base.Tokens), len(recs)*len(base.Components))
	}
	ms, err := st.Machines(ctx)
	if err != nil || len(ms) != pushers {
		t.Errorf("machines: %d (%v), first %+v", len(ms), err, ms)
	}
}

// History filters by machine, and the machines list says how many runs each has.
func TestMachinesAndTheirFilter(t *testing.T) { eachBackend(t, testMachinesAndTheirFilter) }

func testMachinesAndTheirFilter(t *testing.T, be backend) {
	st := be.open(t)
	ctx := context.Background()
	for i, m := range []string{"mac", "linux", "mac"} {
		rec := makeRecord(t, spec{model: "m", prompt: fmt.Sprint(i), tokens: 2, layers: 1, watts: 5}, nil)
		onMachine(rec, "id-"+m, m+"-box", map[string]string{"mac": "ioreport", "linux": "rapl"}[m], power.KindCounter)
		if err := st.Save(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	page, err := st.List(ctx, Query{Machine: "id-mac"})
	if err != nil || page.Total != 2 || page.Runs[0].MachineName != "mac-box" || page.Runs[0].PowerSources != "ioreport" {
		t.Fatalf("machine filter: %+v %v", page, err)
	}
	ms, err := st.Machines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s:%s:%s", m.ID, m.Name, m.PowerSources))
	}
	if want := []string{"id-linux:linux-box:rapl", "id-mac:mac-box:ioreport"}; !reflect.DeepEqual(got, want) {
		t.Errorf("machines %v, want %v", got, want)
	}
}

// Compare groups runs by machine and warns, refusing nothing, when the
// machines' power sources differ.
func TestCompareByMachineWarnsOfDifferentSources(t *testing.T) {
	eachBackend(t, testCompareByMachineWarnsOfDifferentSources)
}

func testCompareByMachineWarnsOfDifferentSources(t *testing.T, be backend) {
	st := be.open(t)
	ctx := context.Background()
	var mac, linux []string
	for i := 0; i < 4; i++ {
		rec := makeRecord(t, spec{model: "m", prompt: "same work", tokens: 3 + i, layers: 1, watts: 5 + float64(i)}, nil)
		if i%2 == 0 {
			onMachine(rec, "id-mac", "mac-studio", "ioreport", power.KindCounter)
			mac = append(mac, rec.Run.ID)
		} else {
			onMachine(rec, "id-linux", "gpu-box", "rapl", power.KindCounter)
			linux = append(linux, rec.Run.ID)
		}
		if err := st.Save(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	all := append(slices.Clone(mac), linux...)
	c, err := st.Compare(ctx, Groups(all), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Groups) != 2 || len(c.Groups[0].RunIDs) != 2 || !slices.Equal(c.Groups[0].RunIDs, mac) || !strings.HasPrefix(c.Groups[1].Label, "gpu-box") {
		t.Fatalf("groups by machine: %+v", c.Groups)
	}
	if len(c.Machines) != 2 || c.Machines[0][0].Name != "mac-studio" || c.Machines[1][0].Sources[0].Name != "rapl" {
		t.Errorf("machines %+v", c.Machines)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "different power sources") || !strings.Contains(c.Warnings[0], "ioreport") {
		t.Errorf("warnings %q, want one about ioreport vs rapl", c.Warnings)
	}
	// Explicit groups that each mix the machines: warned about, not refused.
	c, err = st.Compare(ctx, Groups([]string{mac[0], linux[0]}, []string{mac[1], linux[1]}), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 2 || !strings.Contains(c.Warnings[0], "mixes runs from 2 machines") {
		t.Errorf("warnings %q", c.Warnings)
	}
	// Same machine, same source: nothing to warn about.
	c, err = st.Compare(ctx, Groups(mac[:1], mac[1:2]), false)
	if err != nil || len(c.Warnings) != 0 {
		t.Errorf("one machine: %q, %v", c.Warnings, err)
	}
	if _, err := st.Compare(ctx, Groups(mac), true); !errors.Is(err, ErrCannotCompare) {
		t.Errorf("runs of one machine compared by machine: %v", err)
	}
}

func TestTokens(t *testing.T) { eachBackend(t, testTokens) }

func testTokens(t *testing.T, be backend) {
	st := be.open(t)
	ctx := context.Background()
	push, err := st.AddToken(ctx, "alice-mbp", RolePush)
	if err != nil {
		t.Fatal(err)
	}
	view, err := st.AddToken(ctx, "dashboard", RoleView)
	if err != nil {
		t.Fatal(err)
	}
	if push == view || len(push) < 40 {
		t.Fatalf("secrets %q %q", push, view)
	}
	for secret, want := range map[string]string{push: RolePush, view: RoleView} {
		tok, ok, err := st.CheckToken(ctx, secret)
		if err != nil || !ok || tok.Role != want {
			t.Errorf("CheckToken: %+v %v %v, want role %s", tok, ok, err, want)
		}
	}
	if _, ok, _ := st.CheckToken(ctx, push+"x"); ok {
		t.Error("a wrong secret was accepted")
	}
	var stored string
	st.db.QueryRow(`SELECT hash FROM access_tokens WHERE name = 'alice-mbp'`).Scan(&stored)
	if strings.Contains(stored, push) || stored == "" {
		t.Error("the secret itself is stored")
	}
	if _, err := st.AddToken(ctx, "alice-mbp", RoleView); err == nil {
		t.Error("a second token with the same name")
	}
	for _, bad := range [][2]string{{"", RolePush}, {"a b", RolePush}, {"x", "admin"}} {
		if _, err := st.AddToken(ctx, bad[0], bad[1]); err == nil {
			t.Errorf("AddToken(%q, %q) accepted", bad[0], bad[1])
		}
	}
	if err := st.RevokeToken(ctx, "alice-mbp"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.CheckToken(ctx, push); ok {
		t.Error("a revoked token still works")
	}
	if err := st.RevokeToken(ctx, "alice-mbp"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking twice: %v", err)
	}
	list, err := st.Tokens(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "dashboard" {
		t.Errorf("tokens %+v %v", list, err)
	}
}
