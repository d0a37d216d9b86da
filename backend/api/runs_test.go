package api

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// listServer serves n stored runs, one a minute from 2026-03-01 12:00 UTC,
// with the run list's times in a zone five hours behind UTC.
func listServer(t *testing.T, n int) *httptest.Server {
	t.Helper()
	st := &fakeStore{runs: map[string]RunListItem{}}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		st.put(RunListItem{ID: fmt.Sprintf("run-%05d", i), Created: start.Add(time.Duration(i) * time.Minute), ModelName: "m", Prompt: "p"})
	}
	srv := httptest.NewServer(New(Options{Store: st, Location: time.FixedZone("UTC-5", -5*3600),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	return srv
}

func getList(t *testing.T, url string) ([]RunListItem, http.Header, []map[string]any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var items []RunListItem
	var generic []map[string]any
	if err := json.Unmarshal(raw, &items); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s (%v)", url, res.StatusCode, raw, err)
	}
	json.Unmarshal(raw, &generic)
	return items, res.Header, generic
}

func TestRunListIsTheListItself(t *testing.T) {
	srv := listServer(t, 3)
	items, h, generic := getList(t, srv.URL+"/api/profiling/runs")
	if len(items) != 3 || h.Get("X-Total-Count") != "3" || h.Get("Link") != "" {
		t.Fatalf("%d items, total %q, link %q", len(items), h.Get("X-Total-Count"), h.Get("Link"))
	}
	// The fake lists by id; run-00000 was created at 12:00 UTC, 07:00 at UTC-5.
	if got := generic[0]["created_at"]; got != "2026-03-01T07:00:00.000" {
		t.Errorf("created_at = %v, want local time without an offset", got)
	}
	if got := generic[0]["created_at_utc"]; got != "2026-03-01T12:00:00.000Z" {
		t.Errorf("created_at_utc = %v", got)
	}
	if tags, ok := generic[0]["tags"].([]any); !ok || len(tags) != 0 {
		t.Errorf("tags = %#v, want []", generic[0]["tags"])
	}
}

func TestRunListPagesWithLinks(t *testing.T) {
	srv := listServer(t, 5)
	items, h, _ := getList(t, srv.URL+"/api/profiling/runs?limit=2&offset=2&search=p")
	if len(items) != 2 || items[0].ID != "run-00002" || h.Get("X-Total-Count") != "5" {
		t.Fatalf("page: %+v total %q", items, h.Get("X-Total-Count"))
	}
	link := h.Get("Link")
	for _, want := range []string{
		`</api/profiling/runs?limit=2&offset=0&search=p>; rel="first"`,
		`</api/profiling/runs?limit=2&offset=0&search=p>; rel="prev"`,
		`</api/profiling/runs?limit=2&offset=4&search=p>; rel="next"`,
		`</api/profiling/runs?limit=2&offset=4&search=p>; rel="last"`,
	} {
		if !strings.Contains(link, want) {
			t.Errorf("Link %q lacks %q", link, want)
		}
	}
	// Following next from the last page: no next.
	_, h, _ = getList(t, srv.URL+"/api/profiling/runs?limit=2&offset=4")
	if strings.Contains(h.Get("Link"), `rel="next"`) || !strings.Contains(h.Get("Link"), `rel="prev"`) {
		t.Errorf("last page Link %q", h.Get("Link"))
	}
}

func TestRunListWithoutLimitIsEveryRun(t *testing.T) {
	// More runs than one chunk read from the store: all come back, once each.
	n := 2*listChunk + 17
	srv := listServer(t, n)
	items, h, _ := getList(t, srv.URL+"/api/profiling/runs")
	if len(items) != n || h.Get("X-Total-Count") != fmt.Sprint(n) {
		t.Fatalf("%d items, total %q, want %d", len(items), h.Get("X-Total-Count"), n)
	}
	seen := map[string]bool{}
	for _, it := range items {
		if seen[it.ID] {
			t.Fatalf("run %s listed twice", it.ID)
		}
		seen[it.ID] = true
	}
}

func TestRepeatQueuesAGroup(t *testing.T) {
	ts := newTestServer(t, false)
	r := ts.do(t, "POST", "/api/profiling/generate", strings.Replace(okBody, `"max_length":4`, `"max_length":2,"repeat":3,"cooldown_s":0.5,"wait":true`, 1), nil)
	if r.status != 200 {
		t.Fatalf("repeat: %d %s", r.status, r.raw)
	}
	ids, _ := r.body["run_ids"].([]any)
	runs, _ := r.body["runs"].([]any)
	group, _ := r.body["repeat_group"].(string)
	if len(ids) != 3 || len(runs) != 3 || group == "" || r.body["run_id"] != ids[0] {
		t.Fatalf("repeat answer: %s", r.raw)
	}
	ts.store.mu.Lock()
	defer ts.store.mu.Unlock()
	for i, id := range ids {
		req := ts.store.reqs[id.(string)]
		wantCooldown := 500 * time.Millisecond
		if i == 0 {
			wantCooldown = 0
		}
		if req.RepeatGroup != group || req.RepeatIndex != i+1 || req.RepeatCount != 3 || req.Cooldown != wantCooldown {
			t.Errorf("run %d: group %q index %d/%d cooldown %v", i, req.RepeatGroup, req.RepeatIndex, req.RepeatCount, req.Cooldown)
		}
	}
	// Without repeat, nothing changes for the guide's batch script.
	r = ts.do(t, "POST", "/api/profiling/generate", okBody, nil)
	if r.status != 202 || r.body["run_id"] == nil || r.body["repeat_group"] != nil {
		t.Fatalf("single run: %d %s", r.status, r.raw)
	}
	ts.store.mu.Unlock()
	ts.queue.Wait(t.Context(), r.body["run_id"].(string))
	ts.store.mu.Lock()
	if req := ts.store.reqs[r.body["run_id"].(string)]; req.RepeatGroup != "" || req.Cooldown != 0 {
		t.Errorf("single run: %+v", req)
	}
}

func TestRepeatAndCostSettingsValidation(t *testing.T) {
	ts := newTestServer(t, false)
	for _, c := range []struct{ extra, want string }{
		{`"repeat":51`, "repeat 51"},
		{`"repeat":-1`, "repeat -1"},
		{`"repeat":2,"cooldown_s":-1`, "cooldown_s"},
		{`"repeat":2,"cooldown_s":601`, "cooldown_s"},
		{`"price_usd_per_kwh":0`, "price_usd_per_kwh"},
		{`"price_usd_per_kwh":1e9`, "price_usd_per_kwh"},
		{`"co2_preset":"mars"`, "unknown CO2 preset"},
		{`"co2_preset":"custom"`, "needs co2_g_per_kwh"},
		{`"co2_preset":"eu","co2_g_per_kwh":250`, "is 300 g/kWh"},
		{`"co2_g_per_kwh":-5`, "co2_g_per_kwh"},
	} {
		r := ts.do(t, "POST", "/api/profiling/generate", strings.Replace(okBody, `"max_length":4`, `"max_length":4,`+c.extra, 1), nil)
		if detail, _ := r.body["detail"].(string); r.status != 400 || !strings.Contains(detail, c.want) {
			t.Errorf("%s: %d %s, want 400 mentioning %q", c.extra, r.status, r.raw, c.want)
		}
	}
	for _, ok := range []string{`"co2_preset":"california","price_usd_per_kwh":0.3`, `"co2_g_per_kwh":123`, `"co2_preset":"custom","co2_g_per_kwh":123`, `"co2_preset":"texas","co2_g_per_kwh":500`} {
		if r := ts.do(t, "POST", "/api/profiling/generate", strings.Replace(okBody, `"max_length":4`, `"max_length":1,`+ok, 1), nil); r.status != 202 {
			t.Errorf("%s: %d %s", ok, r.status, r.raw)
		}
	}
}

func TestExportTableNeedsCSV(t *testing.T) {
	ts := newTestServer(t, false)
	if r := ts.do(t, "GET", "/api/profiling/export/x?format=json&table=tokens", "", nil); r.status != 400 {
		t.Errorf("json with a table: %d %s", r.status, r.raw)
	}
}
