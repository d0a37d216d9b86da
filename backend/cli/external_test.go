package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/profiler"
	"energyprofiler/backend/store"
)

func storedRun(t *testing.T, db, id string) *profiler.Record {
	t.Helper()
	st, err := store.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if id == "" {
		page, err := st.List(context.Background(), store.Query{})
		if err != nil || len(page.Runs) == 0 {
			t.Fatalf("no runs: %v", err)
		}
		id = page.Runs[0].ID
	}
	rec, err := st.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestMeasurePassesTheExitCodeAndStoresAWindow(t *testing.T) {
	db := filepath.Join(t.TempDir(), "p.db")
	trace := profReplay(t, 8)
	code, _, stderr := profCLI(t, "measure", "--db", db, "--power", "replay:"+trace, "--interval", "10ms", "--idle", "0",
		"--tags", "train,epoch-1", "--", "sh", "-c", "sleep 0.3; echo done; exit 3")
	if code != 3 {
		t.Fatalf("exit %d, want the command's 3; stderr %s", code, stderr)
	}
	rec := storedRun(t, db, "")
	if rec.Run.Kind != profiler.KindWindow || rec.Run.Status != profiler.StatusFailed || rec.Run.Error != "the command exited with status 3" {
		t.Fatalf("%+v", rec.Run)
	}
	if rec.Run.ModelName != "sh" || !strings.Contains(rec.Run.Prompt, "exit 3") || strings.Join(rec.Run.Tags, ",") != "epoch-1,measure,train" {
		t.Errorf("%q %q %v", rec.Run.ModelName, rec.Run.Prompt, rec.Run.Tags)
	}
	// 8 W replayed over the command's ≥ 0.3 s.
	e, ok := rec.Summary.TotalEnergyJ.Get()
	d, _ := rec.Summary.DurationS.Get()
	if !ok || d < 0.3 || e < 7.5*d || e > 8.5*d {
		t.Errorf("energy %v J over %v s", e, d)
	}
	if !strings.Contains(stderr, "window") {
		t.Errorf("stderr %q", stderr)
	}
	if code, _, _ := profCLI(t, "measure", "--db", db, "--power", "replay:"+trace, "--idle", "0", "--", "true"); code != 0 {
		t.Errorf("true: exit %d", code)
	}
	if code, _, _ := profCLI(t, "measure", "--db", db); code != 2 {
		t.Errorf("no command: exit %d", code)
	}
}

// An interrupt reaches the measured command, which may clean up; its exit
// code comes back and the window is stored as cancelled.
func TestMeasureForwardsTheInterrupt(t *testing.T) {
	db := filepath.Join(t.TempDir(), "p.db")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		var out, errb strings.Builder
		done <- Main(ctx, []string{"measure", "--db", db, "--power", "replay:" + profReplay(t, 5), "--idle", "0", "--",
			"sh", "-c", `trap 'echo cleaning up; exit 42' INT; sleep 3 & wait`}, &out, &errb)
	}()
	time.Sleep(400 * time.Millisecond)
	cancel() // what SIGINT does to the CLI's context
	select {
	case code := <-done:
		if code != 42 {
			t.Fatalf("exit %d, want the command's 42", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("measure did not stop")
	}
	rec := storedRun(t, db, "")
	if rec.Run.Status != profiler.StatusCancelled || !strings.Contains(rec.Run.Error, "interrupted") {
		t.Errorf("%s %q", rec.Run.Status, rec.Run.Error)
	}
}

func TestProfileEndpoint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/completions" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, p := range []string{"Energy", " per", " token"} {
			fmt.Fprintf(w, "data: {\"model\":\"served\",\"choices\":[{\"text\":%q}]}\n\n", p)
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Fprint(w, "data: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	db := filepath.Join(t.TempDir(), "p.db")
	code, out, stderr := profCLI(t, "profile", "--endpoint", srv.URL+"/v1", "--model", "served", "--prompt", "Hi", "--max-tokens", "3",
		"--power", "replay:"+profReplay(t, 6), "--interval", "10ms", "--idle", "0", "--tags", "cli", "--db", db)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Output: Energy per token", "input tokens", "reported by the server (usage.prompt_tokens)", "/v1/completions (openai)", "unavailable (external server)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rec := storedRun(t, db, "")
	if rec.Run.Kind != profiler.KindServer || rec.Summary.OutputTokens != 3 || rec.Run.External.Endpoint != srv.URL+"/v1" {
		t.Errorf("%+v", rec.Run)
	}
	b, _ := json.Marshal(rec)
	if strings.Contains(string(b), "Authorization") {
		t.Error("a header was stored")
	}

	// A server on another machine: refused without --power (no request is
	// sent: the address is a documentation one).
	code, _, stderr = profCLI(t, "profile", "--endpoint", "http://192.0.2.9:8000/v1", "--model", "m", "--prompt", "Hi", "--db", db)
	if code != 2 || !strings.Contains(stderr, "another machine") {
		t.Errorf("remote: exit %d %s", code, stderr)
	}
	// With --power given it is profiled, and the stored run says whose
	// energy it is (the documentation address answers nothing: the run
	// fails, labelled all the same).
	remoteDB := filepath.Join(t.TempDir(), "remote.db")
	code, _, stderr = profCLI(t, "profile", "--endpoint", "http://192.0.2.9:8000/v1", "--model", "m", "--prompt", "Hi", "--db", remoteDB,
		"--power", "replay:"+profReplay(t, 6), "--interval", "10ms", "--idle", "0", "--stall-timeout", "300ms")
	if !strings.Contains(stderr, "another machine") {
		t.Errorf("remote with --power: exit %d %s", code, stderr)
	}
	rec = storedRun(t, remoteDB, "")
	if x := rec.Run.External; x == nil || !x.Remote || !strings.Contains(x.PowerNote, "192.0.2.9:8000") || !strings.Contains(x.PowerNote, "not the server's") {
		t.Errorf("remote run's label: %+v", rec.Run.External)
	}
	code, _, stderr = profCLI(t, "profile", "--endpoint", srv.URL+"/v1", "--model", "m", "--prompt", "Hi", "--depth", "deep", "--db", db)
	if code != 2 || !strings.Contains(stderr, "do not apply") {
		t.Errorf("--depth: exit %d %s", code, stderr)
	}
}

func TestEndpointsCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "endpoints.json")
	t.Setenv("ENERGYPROFILER_ENDPOINTS", path)
	t.Setenv("OLLAMA_HOST", "127.0.0.1:1") // no ollama here
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":[{"id":"qwen"}]}`))
	}))
	defer srv.Close()
	if code, _, stderr := profCLI(t, "endpoints", "add", "lab", srv.URL+"/v1", "--key-env", "LAB_KEY"); code != 0 {
		t.Fatalf("add: %s", stderr)
	}
	if code, _, _ := profCLI(t, "endpoints", "add", "bad:name", srv.URL); code != 2 {
		t.Error("a bad name was saved")
	}
	code, out, _ := profCLI(t, "endpoints", "list")
	if code != 0 || !strings.Contains(out, "lab:qwen") || !strings.Contains(out, "$LAB_KEY is not set") || strings.Contains(out, "\n  ollama") {
		t.Errorf("list:\n%s", out)
	}
	code, out, _ = profCLI(t, "endpoints", "models", "lab")
	if code != 0 || strings.TrimSpace(out) != "qwen" {
		t.Errorf("models: %q", out)
	}
	code, out, _ = profCLI(t, "doctor")
	if code != 0 || !strings.Contains(out, "Inference servers") || !strings.Contains(out, "lab") {
		t.Errorf("doctor:\n%s", out)
	}
	if code, _, _ := profCLI(t, "endpoints", "remove", "lab"); code != 0 {
		t.Error("remove")
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "lab") {
		t.Errorf("still saved: %s", data)
	}
}
