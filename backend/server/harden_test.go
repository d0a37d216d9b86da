package server

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/api"
	"energyprofiler/backend/demo"
	"energyprofiler/backend/store"
)

type runDetail struct {
	Run struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"run"`
}

// Issue 12 item 5: a 202 with a run_id could lead to a 404 later: runs
// cancelled while queued and runs whose model failed to load were never
// stored. Every accepted run now ends in a stored state with its reason.
func TestEveryAcceptedRunEndsStored(t *testing.T) {
	srv, url := start(t)
	// A model whose weights cannot be loaded (its config and tokenizer are
	// fine, so it is listed and accepted).
	broken, err := demo.WriteSpec(srv.Config.ModelsDir, demo.Spec{Name: "broken", Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHead: 2, Vocab: 1100})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(broken, "model.safetensors"), 1000); err != nil {
		t.Fatal(err)
	}

	var ids []string
	submit := func(body string) string {
		var out map[string]any
		if code := call(t, "POST", url+"/api/profiling/generate", body, &out); code != 202 {
			t.Fatalf("generate: %d %v", code, out)
		}
		return out["run_id"].(string)
	}
	// The first run holds the queue (a 1 s idle baseline) while the rest wait.
	first := submit(`{"model_name":"tiny","prompt":"x","max_length":4,"idle_s":1}`)
	for range 10 {
		ids = append(ids, submit(`{"model_name":"tiny","prompt":"queued","max_length":4}`))
	}
	brokenID := submit(`{"model_name":"broken","prompt":"x","max_length":4,"idle_s":0}`)
	for _, id := range ids {
		if code := call(t, "POST", url+"/api/profiling/run/"+id+"/cancel", "", nil); code != 202 {
			t.Errorf("cancel queued %s: %d", id[:8], code)
		}
	}
	for _, id := range append([]string{first, brokenID}, ids...) {
		srv.Queue.Wait(t.Context(), id)
	}
	want := map[string]string{first: "completed", brokenID: "failed"}
	for _, id := range ids {
		want[id] = "cancelled"
	}
	for id, status := range want {
		var d runDetail
		if code := call(t, "GET", url+"/api/profiling/run/"+id, "", &d); code != 200 || d.Run.Status != status {
			t.Errorf("run %s: %d, status %q (%s), want 200 %s", id[:8], code, d.Run.Status, d.Run.Error, status)
		}
		if status != "completed" && d.Run.Error == "" {
			t.Errorf("run %s ended %s without a reason", id[:8], status)
		}
	}
	var d runDetail
	call(t, "GET", url+"/api/profiling/run/"+brokenID, "", &d)
	if !strings.Contains(d.Run.Error, "model.safetensors") {
		t.Errorf("failed load's reason %q does not name the file", d.Run.Error)
	}
}

// Item 8: on a read-only database the server used to start silently, then
// fail every run after all its inference. It now starts, says so in
// /api/health, refuses runs up front with 503, and maps errors properly.
func TestReadOnlyDatabaseIsReportedAndRunsRefusedUpFront(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "db", "p.db")
	st, err := store.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, p := range []string{dbPath, filepath.Dir(dbPath)} {
		if out, err := exec.Command("chattr", "+i", p).CombinedOutput(); err != nil {
			t.Skipf("chattr: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("chattr", "-i", p).Run() })
	}
	models := filepath.Join(dir, "models")
	if _, err := demo.WriteSpec(models, demo.Spec{Name: "tiny", Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHead: 2, Vocab: 1100}); err != nil {
		t.Fatal(err)
	}
	srv, err := Start(t.Context(), Config{Version: "test", DBPath: dbPath, ModelsDir: models, PowerSpec: "cpu-load", Threads: 1, NoDemo: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("server on a read-only database did not start: %v", err)
	}
	defer srv.Close()
	hs := httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(hs.Listener.Addr().String())
	hs.Config.Handler = srv.Handler(api.Options{Port: port})
	hs.Start()
	defer hs.Close()

	var health map[string]any
	call(t, "GET", hs.URL+"/api/health", "", &health)
	if p, _ := health["database_problem"].(string); !strings.Contains(p, "read-only") {
		t.Errorf("health database_problem = %q, want it to say read-only", p)
	}
	start := time.Now()
	var out map[string]any
	code := call(t, "POST", hs.URL+"/api/profiling/generate", `{"model_name":"tiny","prompt":"x","max_length":4}`, &out)
	if code != 503 || !strings.Contains(fmt.Sprint(out["detail"]), "read-only") {
		t.Errorf("generate on a read-only database: %d %v, want 503 saying read-only", code, out)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("refusing took %v: it ran first", time.Since(start))
	}
	if code := call(t, "DELETE", hs.URL+"/api/profiling/run/no-such-run", "", nil); code != 404 {
		t.Errorf("DELETE of an unknown run: %d, want 404", code)
	}
}

// Item 12: a prompt longer than the model's context was queued and failed
// later with a 500; it is refused at submission with a 400.
func TestPromptLongerThanTheContextIsRefusedAtSubmission(t *testing.T) {
	srv, url := start(t)
	var out map[string]any
	long := strings.Repeat("energy ", 3000) // the tiny model's context is 4096 tokens at most
	code := call(t, "POST", url+"/api/profiling/generate", fmt.Sprintf(`{"model_name":"tiny","prompt":%q,"max_length":4}`, long), &out)
	if code != 400 || !strings.Contains(fmt.Sprint(out["detail"]), "context") {
		t.Errorf("an over-long prompt: %d %v, want 400 about the context", code, out)
	}
	if srv.Queue.Len() != 0 || srv.Queue.Active() != "" {
		t.Error("the over-long prompt was queued")
	}
}
