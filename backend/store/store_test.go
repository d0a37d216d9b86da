package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/profiler"
)

func TestSaveGetRoundTrip(t *testing.T) { eachBackend(t, testSaveGetRoundTrip) }

func testSaveGetRoundTrip(t *testing.T, be backend) {
	st := be.open(t)
	ctx := context.Background()
	rec := makeRecord(t, spec{model: "demo-15m-gqa", prompt: "Hello there", tags: []string{"b", "a"}, tokens: 7, layers: 2, depth: "deep", watts: 10}, st)
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, rec.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Compare through JSON: that is the shape every consumer sees.
	want := *rec
	want.Run.Tags = []string{"a", "b"}
	a, _ := json.Marshal(&want)
	b, _ := json.Marshal(got)
	if string(a) != string(b) {
		t.Fatalf("round trip differs:\nwant %s\ngot  %s", firstDiff(string(a), string(b)), firstDiff(string(b), string(a)))
	}
	if got.Run.Status != profiler.StatusCompleted || len(got.Components) != len(rec.Components) || got.Components[6].Deep == nil {
		t.Errorf("status %s, %d components", got.Run.Status, len(got.Components))
	}
}

// An MoE run keeps every router decision, the expert calls and the
// router's deep figures through the store.
func TestSaveGetRoundTripMoE(t *testing.T) { eachBackend(t, testSaveGetRoundTripMoE) }

func testSaveGetRoundTripMoE(t *testing.T, be backend) {
	st := be.open(t)
	ctx := context.Background()
	rec := makeRecord(t, spec{model: "demo-moe", prompt: "Hi", tokens: 3, layers: 2, depth: "deep", watts: 10, experts: 4}, st)
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, rec.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(rec)
	b, _ := json.Marshal(got)
	if string(a) != string(b) {
		t.Fatalf("round trip differs:\nwant %s\ngot  %s", firstDiff(string(a), string(b)), firstDiff(string(b), string(a)))
	}
	// 5 prompt positions + 3 tokens, 2 layers: 16 decisions of 2 experts.
	if len(got.Routing) != 16 || len(got.Routing[0].Experts) != 2 || got.Routing[15].Position != 7 || got.Routing[15].TokenIndex != 2 {
		t.Fatalf("routing %+v", got.Routing)
	}
	var deep bool
	for _, c := range got.Components {
		if c.Component == "router" && c.Deep != nil && c.Deep.RouterLoadBalance != nil && *c.Deep.RouterLoadBalance == 1.1 {
			deep = true
		}
	}
	if !deep {
		t.Error("router deep stats lost")
	}
}

func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-80)
	return a[lo:min(len(a), i+80)]
}

func TestListFiltersSortsPages(t *testing.T) { eachBackend(t, testListFiltersSortsPages) }

func testListFiltersSortsPages(t *testing.T, be backend) {
	st := be.open(t)
	ctx := context.Background()
	var ids []string
	for i, s := range []spec{
		{model: "m1", prompt: "The quick brown fox", tags: []string{"x"}, tokens: 3, layers: 1, watts: 10},
		{model: "m2", prompt: "100% sure_thing", tags: []string{"x", "y"}, tokens: 6, layers: 1, watts: 30},
		{model: "m1", prompt: "another prompt", tags: []string{"y"}, tokens: 9, layers: 1, watts: 20},
	} {
		rec := makeRecord(t, s, nil)
		rec.Run.CreatedAt = time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC)
		if i == 2 {
			rec.Run.Settings.Backend, rec.Run.Settings.RepeatGroup, rec.Run.Arch.Dtype = "cpu-avx512 x2", "group-1", "Q4_K"
		}
		if err := st.Save(ctx, rec); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.Run.ID)
	}
	list := func(q Query) []string {
		t.Helper()
		p, err := st.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range p.Runs {
			out = append(out, r.ID)
		}
		return out
	}
	cases := []struct {
		name string
		q    Query
		want []string
	}{
		{"default newest first", Query{}, []string{ids[2], ids[1], ids[0]}},
		{"search case-insensitive", Query{Search: "QUICK"}, []string{ids[0]}},
		{"search with LIKE metacharacters", Query{Search: "100%"}, []string{ids[1]}},
		{"underscore is literal", Query{Search: "e_t"}, []string{ids[1]}},
		{"model", Query{Model: "m1"}, []string{ids[2], ids[0]}},
		{"all tags", Query{Tags: []string{"x", "y"}}, []string{ids[1]}},
		{"since/until", Query{Since: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)}, []string{ids[1]}},
		{"energy desc", Query{Sort: "energy"}, []string{ids[1], ids[2], ids[0]}}, // 30 W·2.2 ms > 20 W·2.3 ms > 10 W·2.1 ms
		{"tok/s asc", Query{Sort: "tokens_per_second", Asc: true}, []string{ids[0], ids[1], ids[2]}},
		{"page 2", Query{Limit: 2, Offset: 2}, []string{ids[0]}},
		{"status", Query{Status: []profiler.Status{profiler.StatusFailed}}, nil},
	}
	for _, c := range cases {
		if got := list(c.q); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	p, _ := st.List(ctx, Query{Limit: 1})
	r := p.Runs[0]
	if p.Total != 3 || r.ModelName != "m1" || !reflect.DeepEqual(r.Tags, []string{"y"}) || r.TotalEnergyJ == nil || r.JoulesPerToken == nil || r.Status != profiler.StatusCompleted {
		t.Errorf("row = %+v total %d", r, p.Total)
	}
	if r.Backend != "cpu-avx512 x2" || r.RepeatGroup != "group-1" || r.Dtype != "Q4_K" || r.Depth != "module" {
		t.Errorf("row's settings: backend %q, group %q, dtype %q, depth %q", r.Backend, r.RepeatGroup, r.Dtype, r.Depth)
	}
	if p, _ := st.List(ctx, Query{Limit: 1, Asc: true}); p.Runs[0].Backend != "" || p.Runs[0].RepeatGroup != "" {
		t.Errorf("a run without those settings: %+v", p.Runs[0])
	}
	if _, err := st.List(ctx, Query{Sort: "bogus"}); err == nil {
		t.Error("unknown sort: want an error")
	}
	full, err := st.Resolve(ctx, ids[1][:8])
	if err != nil || full != ids[1] {
		t.Errorf("resolve prefix: %v %v", full, err)
	}
	if _, err := st.Resolve(ctx, "ffffffff"); !errors.Is(err, ErrNotFound) {
		t.Errorf("resolve missing: %v", err)
	}
}

func TestDeleteRemovesEverything(t *testing.T) { eachBackend(t, testDeleteRemovesEverything) }

func testDeleteRemovesEverything(t *testing.T, be backend) {
	st := be.open(t)
	ctx := context.Background()
	keep := makeRecord(t, spec{model: "m", prompt: "keep", tags: []string{"t"}, tokens: 4, layers: 2, depth: "deep", watts: 5, experts: 4}, nil)
	gone := makeRecord(t, spec{model: "m", prompt: "gone", tags: []string{"t"}, tokens: 4, layers: 2, depth: "deep", watts: 5, experts: 4}, nil)
	for _, r := range []*profiler.Record{keep, gone} {
		if err := st.Save(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	count := func() map[string]int {
		out := map[string]int{}
		for _, tbl := range []string{"runs", "run_details", "run_tags", "power_samples", "phases", "tokens", "components", "deep_ops", "layer_metrics", "routes"} {
			var n int
			if err := st.db.QueryRow("SELECT count(*) FROM " + tbl).Scan(&n); err != nil {
				t.Fatal(err)
			}
			out[tbl] = n
		}
		return out
	}
	before := count()
	if err := st.Delete(ctx, gone.Run.ID); err != nil {
		t.Fatal(err)
	}
	after := count()
	for tbl, n := range before {
		if n == 0 || after[tbl]*2 != n {
			t.Errorf("%s: %d rows before, %d after; want half left", tbl, n, after[tbl])
		}
	}
	if _, err := st.Get(ctx, gone.Run.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("get deleted: %v", err)
	}
	if err := st.Delete(ctx, gone.Run.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
	if _, err := st.Get(ctx, keep.Run.ID); err != nil {
		t.Errorf("the other run must stay: %v", err)
	}
}

func TestRunningBecomesInterruptedOnOpen(t *testing.T) {
	eachBackend(t, testRunningBecomesInterruptedOnOpen)
}

func testRunningBecomesInterruptedOnOpen(t *testing.T, be backend) {
	path := be.fresh(t)
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	info := profiler.RunInfo{ID: "11111111-dead-4000-8000-000000000000", CreatedAt: time.Now(), Status: profiler.StatusRunning, Meta: profiler.Meta{ModelName: "m", Prompt: "p"}}
	st.RunStarted(info)
	info2 := info
	info2.ID = "22222222-live-4000-8000-000000000000"
	st.RunStarted(info2)
	// A third stopped and stored its end (RunEnding, as the profiler does for
	// a cancelled run), but its owner vanished before its record arrived, as
	// a process killed at the end of its stop grace does.
	stopped := info
	stopped.ID = "33333333-stop-4000-8000-000000000000"
	st.RunStarted(stopped)
	end := time.Now().UTC().Truncate(time.Millisecond)
	stopped.Status, stopped.Error, stopped.FinishedAt = profiler.StatusCancelled, "cancelled while running (its measurements were not stored)", &end
	st.RunEnding(stopped)
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The first and third runs' owner is a store that no longer exists; the
	// second's is st, still open.
	if _, err := st.db.Exec(`UPDATE runs SET owner_pid = 2147483000, owner_instance = 'gone' WHERE id <> ?`, info2.ID); err != nil {
		t.Fatal(err)
	}
	other, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for id, want := range map[string]profiler.Status{info.ID: profiler.StatusInterrupted, info2.ID: profiler.StatusRunning, stopped.ID: profiler.StatusCancelled} {
		rec, err := other.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Run.Status != want {
			t.Errorf("run %s: status %s, want %s", id[:8], rec.Run.Status, want)
		}
		if id == stopped.ID && (rec.Run.Error != stopped.Error || rec.Run.FinishedAt == nil) {
			t.Errorf("stopped run: reason %q, finished %v; want %q and its end time", rec.Run.Error, rec.Run.FinishedAt, stopped.Error)
		}
	}
	if problems, err := other.Check(ctx); err != nil || len(problems) != 0 {
		t.Errorf("integrity check: %v %v", problems, err)
	}
}

func TestSchemaVersion(t *testing.T) { eachBackend(t, testSchemaVersion) }

func testSchemaVersion(t *testing.T, be backend) {
	st := be.open(t)
	v, err := schemaVersion(context.Background(), st.db, st.db.d)
	if err != nil || v != len(migrations()) {
		t.Errorf("schema version %d (%v), want %d", v, err, len(migrations()))
	}
	if be.postgres() {
		return
	}
	var mode string
	if err := st.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		t.Errorf("journal_mode %q (%v), want wal", mode, err)
	}
}

func TestWriterIsolatesFailingJobs(t *testing.T) { eachBackend(t, testWriterIsolatesFailingJobs) }

func testWriterIsolatesFailingJobs(t *testing.T, be backend) {
	st := be.open(t)
	ctx := context.Background()
	ok1, bad, ok2 := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	insert := func(id string) func(context.Context, *Tx) error {
		return func(ctx context.Context, tx *Tx) error {
			_, err := upsertRun(ctx, tx, profiler.RunInfo{ID: id, CreatedAt: time.Now(), Status: profiler.StatusCompleted, Meta: profiler.Meta{ModelName: "m"}}, nil, owner{host: "h", pid: 1})
			return err
		}
	}
	// Queue three jobs at once so the writer runs them in one transaction.
	st.mu.Lock()
	st.queue = append(st.queue,
		job{name: "a", fn: insert("aaaaaaaa-0000-4000-8000-000000000000"), done: ok1},
		job{name: "bad", fn: func(ctx context.Context, tx *Tx) error {
			if err := insert("bbbbbbbb-0000-4000-8000-000000000000")(ctx, tx); err != nil {
				return err
			}
			return errors.New("boom")
		}, done: bad},
		job{name: "c", fn: insert("cccccccc-0000-4000-8000-000000000000"), done: ok2})
	st.mu.Unlock()
	st.wake <- struct{}{}
	if err := <-ok1; err != nil {
		t.Fatal(err)
	}
	if err := <-bad; err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("failing job: %v", err)
	}
	if err := <-ok2; err != nil {
		t.Fatal(err)
	}
	page, _ := st.List(ctx, Query{})
	if page.Total != 2 {
		t.Errorf("%d runs stored, want the two good jobs' runs only", page.Total)
	}
	if err := st.Flush(ctx); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Flush should report the asynchronous failure, got %v", err)
	}
	if err := st.Flush(ctx); err != nil {
		t.Errorf("a reported error is forgotten: %v", err)
	}
}

func TestCloseDrainsQueuedWrites(t *testing.T) { eachBackend(t, testCloseDrainsQueuedWrites) }

func testCloseDrainsQueuedWrites(t *testing.T, be backend) {
	path := be.fresh(t)
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 6; i++ {
		rec := makeRecord(t, spec{model: "m", prompt: "p", tokens: 2, layers: 1, watts: 1}, nil)
		st.RunFinished(rec) // not waited for
		ids = append(ids, rec.Run.ID)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range ids {
		if _, err := st.Get(context.Background(), id); err != nil {
			t.Errorf("run queued before Close was lost: %v", err)
		}
	}
}
