package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/api"
	"energyprofiler/backend/demo"
	"energyprofiler/backend/store"
)

// guidePython finds a Python 3 with requests and pandas (Debian's
// python3-requests and python3-pandas). Without one the test is skipped,
// unless ENERGYPROFILER_GUIDE_SCRIPTS=required (make test sets it), when it
// fails: CI installs them.
func guidePython(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			tried = append(tried, py+": not found")
			continue
		}
		out, err := exec.Command(path, "-c", "import requests, pandas").CombinedOutput()
		if err == nil {
			return path
		}
		tried = append(tried, fmt.Sprintf("%s: %s", path, bytes.TrimSpace(out)))
	}
	msg := "the guide's scripts need python3 with requests and pandas (apt-get install python3-requests python3-pandas): " + strings.Join(tried, "; ")
	if os.Getenv("ENERGYPROFILER_GUIDE_SCRIPTS") == "required" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestGuideScripts runs the user's guide's three Python scripts (batch
// profiling, analysis with pandas, cleanup of runs older than 30 days)
// unchanged but for model names, against a real server: store, power
// (a replayed 12 W trace), session and queue. The scripts keep the guide's
// http://localhost:8000; HTTP_PROXY routes it to the test server. Python
// runs in a zone five hours behind UTC, the server's run list uses the same
// zone, and runs aged just over and just under 30 days check that the
// guide's naive datetime comparison is decided in local time.
func TestGuideScripts(t *testing.T) {
	py := guidePython(t)
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	for _, name := range []string{"tiny-v1", "tiny-v2", "tiny-v3"} {
		layers := map[string]int{"tiny-v1": 1, "tiny-v2": 2, "tiny-v3": 3}[name]
		if _, err := demo.WriteSpec(models, demo.Spec{Name: name, Hidden: 64, Intermediate: 128, Layers: layers, Heads: 4, KVHead: 2, Vocab: 1100}); err != nil {
			t.Fatal(err)
		}
	}
	var trace strings.Builder
	for ms := 0; ms <= 600_000; ms += 50 {
		fmt.Fprintf(&trace, `{"offset_ms":%d,"domains_mw":{"cpu":12000}}`+"\n", ms)
	}
	tracePath := filepath.Join(dir, "trace.jsonl")
	if err := os.WriteFile(tracePath, []byte(trace.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "p.db")
	srv, err := Start(t.Context(), Config{Version: "test", DBPath: dbPath, ModelsDir: models,
		PowerSpec: "replay:" + tracePath, Threads: 1, NoDemo: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	zone := time.FixedZone("XST", -5*3600) // POSIX TZ "XST5" for Python
	hs := httptest.NewServer(srv.Handler(api.Options{Location: zone}))
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})

	script := func(name string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, py, filepath.Join("testdata", "guide", name))
		for _, kv := range os.Environ() {
			if k, _, _ := strings.Cut(kv, "="); !strings.HasSuffix(strings.ToLower(k), "_proxy") && k != "TZ" {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "HTTP_PROXY="+hs.URL, "http_proxy="+hs.URL, "NO_PROXY=", "no_proxy=", "TZ=XST5", "PYTHONDONTWRITEBYTECODE=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return string(out)
	}

	// Batch profiling: nine runs queued, each run_id printed.
	out := script("batch.py")
	ids := regexp.MustCompile(`\(run_id: ([0-9a-f-]{36})\)`).FindAllStringSubmatch(out, -1)
	if len(ids) != 9 || !strings.Contains(out, "Completed: tiny-v3 - Solve this math problem: 2x + ... (run_id: ") {
		t.Fatalf("batch printed:\n%s", out)
	}
	for _, m := range ids {
		if _, err := srv.Queue.Wait(t.Context(), m[1]); err != nil {
			t.Fatalf("run %s: %v", m[1], err)
		}
	}
	if err := srv.Store.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	// Analysis: the mean J/token and the most efficient run's model, as
	// the store has them.
	page, err := srv.Store.List(t.Context(), store.Query{Limit: 100})
	if err != nil || page.Total != 9 {
		t.Fatalf("stored runs: %d, %v", page.Total, err)
	}
	var sum, best float64
	bestModel := ""
	for _, r := range page.Runs {
		if r.JoulesPerToken == nil {
			t.Fatalf("run %s has no J/token", r.ID)
		}
		sum += *r.JoulesPerToken
		if bestModel == "" || *r.JoulesPerToken < best {
			best, bestModel = *r.JoulesPerToken, r.ModelName
		}
	}
	out = script("analysis.py")
	m := regexp.MustCompile(`Average energy per token: ([0-9.]+) J\nMost efficient model: (\S+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("analysis printed:\n%s", out)
	}
	if avg, _ := strconv.ParseFloat(m[1], 64); math.Abs(avg-sum/9) > 0.0005 || m[2] != bestModel {
		t.Errorf("analysis: mean %s J, best %s; the store says %.4f J and %s", m[1], m[2], sum/9, bestModel)
	}

	// Cleanup: age three runs (stored times are UTC milliseconds) and let
	// the script delete what is older than 30 days in local time.
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	aged := map[string]time.Duration{
		ids[0][1]: 40 * 24 * time.Hour,           // clearly old
		ids[1][1]: 30*24*time.Hour + 3*time.Hour, // just old: kept if times were UTC read as local
		ids[2][1]: 30*24*time.Hour - 3*time.Hour, // just young: deleted if the zone went the other way
	}
	for id, age := range aged {
		if _, err := db.Exec(`UPDATE runs SET created_at = ? WHERE id = ?`, now.Add(-age).UnixMilli(), id); err != nil {
			t.Fatal(err)
		}
	}
	out = script("cleanup.py")
	var deleted []string
	for _, m := range regexp.MustCompile(`Deleted old run: (\S+)`).FindAllStringSubmatch(out, -1) {
		deleted = append(deleted, m[1])
	}
	sort.Strings(deleted)
	want := []string{ids[0][1], ids[1][1]}
	sort.Strings(want)
	if strings.Join(deleted, ",") != strings.Join(want, ",") {
		t.Errorf("cleanup deleted %v, want %v; it printed:\n%s", deleted, want, out)
	}
	if page, _ := srv.Store.List(t.Context(), store.Query{}); page.Total != 7 {
		t.Errorf("%d runs left, want 7", page.Total)
	}

	// The guide's curl exports.
	for _, c := range []struct{ query, typ, file string }{
		{"?format=json", "application/json", ".json"},
		{"?format=csv", "application/zip", ".csv.zip"},
		{"?format=csv&table=tokens", "text/csv", "-tokens.csv"},
	} {
		res, err := http.Get(hs.URL + "/api/profiling/export/" + ids[3][1] + c.query)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), c.typ) || !strings.Contains(res.Header.Get("Content-Disposition"), c.file) {
			t.Errorf("export %s: %d %s %s", c.query, res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
		}
		if c.file == ".json" {
			var rec struct {
				Run struct{ ID string } `json:"run"`
			}
			if json.Unmarshal(body, &rec) != nil || rec.Run.ID != ids[3][1] {
				t.Errorf("json export: %.100s", body)
			}
		}
	}
}
