package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"energyprofiler/backend/queue"
)

// fakeStore keeps runs in memory; the executor below "stores" into it.
type fakeStore struct {
	mu   sync.Mutex
	runs map[string]RunListItem
	reqs map[string]GenerateRequest // what each run was asked with
}

func (s *fakeStore) put(r RunListItem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs[r.ID] = r
}

func (s *fakeStore) ListRuns(_ context.Context, q RunQuery) (RunPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []RunListItem
	for _, r := range s.runs {
		if q.Search != "" && !strings.Contains(r.Prompt, q.Search) {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	total := len(out)
	if q.Offset < len(out) {
		out = out[q.Offset:]
	} else {
		out = nil
	}
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return RunPage{Runs: out, Total: total}, nil
}

func (s *fakeStore) GetRun(_ context.Context, id string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[id]
	if !ok {
		return nil, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	return map[string]any{"run": r}, nil
}

func (s *fakeStore) DeleteRun(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[id]; !ok {
		return fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	delete(s.runs, id)
	return nil
}

func (s *fakeStore) ExportRun(ctx context.Context, id, format, table string) (Export, error) {
	r, err := s.GetRun(ctx, id)
	if err != nil {
		return Export{}, err
	}
	b, _ := json.Marshal(r)
	return Export{ContentType: "application/json", Filename: id + "." + format + ".json", Data: b}, nil
}

func (s *fakeStore) CompareRuns(ctx context.Context, ids []string) (any, error) {
	for _, group := range ids {
		for _, id := range strings.Split(group, "+") {
			if _, err := s.GetRun(ctx, id); err != nil {
				return nil, err
			}
		}
	}
	return map[string]any{"ids": ids}, nil
}

type fakeModels struct{}

func (fakeModels) ListModels(context.Context) ([]ModelInfo, error) {
	return []ModelInfo{{Name: "demo-15m-gqa", Demo: true, Facts: map[string]any{"layers": 6, "attention": "GQA"}}}, nil
}

func (fakeModels) Resolve(name string) (string, error) {
	if strings.ContainsAny(name, `/\`) || strings.Contains(name, "..") {
		return "", fmt.Errorf("%w: model name %q", ErrBadRequest, name)
	}
	if name != "demo-15m-gqa" {
		return "", fmt.Errorf("%w: model %q", ErrNotFound, name)
	}
	return "/models/" + name, nil
}

// testServer is a real HTTP server on a random loopback port.
type testServer struct {
	URL   string
	Port  string
	store *fakeStore
	queue *queue.Queue
	// release, when non-nil, holds every run until it is closed.
	release chan struct{}
}

func newTestServer(t *testing.T, hold bool) *testServer {
	t.Helper()
	return newTestServerWith(t, hold, nil)
}

// newTestServerWith lets a test change the handler's options (token, hosts).
func newTestServerWith(t *testing.T, hold bool, configure func(*Options)) *testServer {
	t.Helper()
	ts := &testServer{store: &fakeStore{runs: map[string]RunListItem{}, reqs: map[string]GenerateRequest{}}}
	if hold {
		ts.release = make(chan struct{})
	}
	exec := func(ctx context.Context, j *queue.Job, emit func(queue.Event)) (any, error) {
		req := j.Request.(GenerateRequest)
		emit(queue.Event{JobID: j.ID, Type: "phase", Data: map[string]any{"phase": "prefill"}})
		if ts.release != nil {
			select {
			case <-ts.release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		for i := range req.MaxLength {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			emit(queue.Event{JobID: j.ID, Type: "token", Data: map[string]any{"index": i}})
		}
		e := 1.5
		ts.store.mu.Lock()
		ts.store.reqs[j.ID] = req
		ts.store.mu.Unlock()
		ts.store.put(RunListItem{ID: j.ID, ModelName: req.ModelName, Prompt: req.Prompt, TotalEnergyJ: &e, Status: "completed", Tags: req.Tags})
		return map[string]any{"run_id": j.ID, "output_tokens": req.MaxLength}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.queue = queue.New(ctx, exec, queue.Options{})
	srv := httptest.NewUnstartedServer(nil)
	_, ts.Port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	n := 0
	var mu sync.Mutex
	opts := Options{
		Version: "test", Port: ts.Port, Store: ts.store, Models: fakeModels{}, Queue: ts.queue,
		NewRunID: func() string { mu.Lock(); defer mu.Unlock(); n++; return fmt.Sprintf("run-%04d", n) },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if configure != nil {
		configure(&opts)
	}
	srv.Config.Handler = New(opts)
	srv.Start()
	ts.URL = srv.URL
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		<-ts.queue.Stopped()
	})
	return ts
}

type response struct {
	status int
	body   map[string]any
	raw    []byte
	header http.Header
}

func (ts *testServer) do(t *testing.T, method, path string, body string, header map[string]string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{status: res.StatusCode, raw: raw, header: res.Header}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

const okBody = `{"model_name":"demo-15m-gqa","prompt":"hello","profiling_depth":"module","tags":["a"],"max_length":4}`

func TestEndpointsHappyPath(t *testing.T) {
	ts := newTestServer(t, false)

	if r := ts.do(t, "GET", "/api/health", "", nil); r.status != 200 || r.body["version"] != "test" {
		t.Fatalf("health: %d %s", r.status, r.raw)
	}
	r := ts.do(t, "GET", "/api/profiling/models", "", nil)
	models, _ := r.body["models"].([]any)
	if r.status != 200 || len(models) != 1 || models[0].(map[string]any)["name"] != "demo-15m-gqa" || models[0].(map[string]any)["layers"] != 6.0 {
		t.Fatalf("models: %d %s", r.status, r.raw)
	}

	// wait:true returns the result; the seed's scripts read run_id.
	r = ts.do(t, "POST", "/api/profiling/generate", strings.Replace(okBody, `"max_length":4`, `"max_length":4,"wait":true`, 1), nil)
	if r.status != 200 || r.body["run_id"] == nil || r.body["output_tokens"] != 4.0 {
		t.Fatalf("generate wait: %d %s", r.status, r.raw)
	}
	id := r.body["run_id"].(string)

	// Without wait, run_id comes straight back.
	r = ts.do(t, "POST", "/api/profiling/generate", okBody, nil)
	if r.status != 202 || r.body["run_id"] == nil {
		t.Fatalf("generate: %d %s", r.status, r.raw)
	}
	second := r.body["run_id"].(string)
	if _, err := ts.queue.Wait(t.Context(), second); err != nil {
		t.Fatal(err)
	}

	var runs []map[string]any
	r = ts.do(t, "GET", "/api/profiling/runs?search=hell&limit=1", "", nil)
	if err := json.Unmarshal(r.raw, &runs); err != nil || r.status != 200 || len(runs) != 1 || r.header.Get("X-Total-Count") != "2" {
		t.Fatalf("runs: %d %s %v", r.status, r.raw, r.header)
	}
	if r = ts.do(t, "GET", "/api/profiling/run/"+id, "", nil); r.status != 200 {
		t.Fatalf("run: %d %s", r.status, r.raw)
	}
	r = ts.do(t, "GET", "/api/profiling/export/"+id+"?format=perfetto", "", nil)
	if r.status != 200 || !strings.Contains(r.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %v", r.status, r.header)
	}
	if r = ts.do(t, "GET", "/api/profiling/compare?ids="+id+","+second, "", nil); r.status != 200 {
		t.Fatalf("compare: %d %s", r.status, r.raw)
	}
	if r = ts.do(t, "GET", "/api/profiling/queue", "", nil); r.status != 200 || r.body["queued"] != 0.0 {
		t.Fatalf("queue: %d %s", r.status, r.raw)
	}
	if r = ts.do(t, "DELETE", "/api/profiling/run/"+id, "", nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if r = ts.do(t, "GET", "/api/profiling/run/"+id, "", nil); r.status != 404 || r.body["error"] == nil {
		t.Fatalf("deleted run still there: %d %s", r.status, r.raw)
	}
}

func TestErrorPaths(t *testing.T) {
	ts := newTestServer(t, false)
	big := `{"model_name":"demo-15m-gqa","prompt":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	cases := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		errText                  string
	}{
		{"unknown endpoint", "GET", "/api/nope", "", nil, 404, "not found"},
		{"missing model", "POST", "/api/profiling/generate", `{"model_name":"nope","prompt":"x"}`, nil, 404, "not found"},
		{"traversal", "POST", "/api/profiling/generate", `{"model_name":"../etc","prompt":"x"}`, nil, 400, "invalid request"},
		{"bad depth", "POST", "/api/profiling/generate", `{"model_name":"demo-15m-gqa","prompt":"x","profiling_depth":"max"}`, nil, 400, "invalid request"},
		{"too many tokens", "POST", "/api/profiling/generate", `{"model_name":"demo-15m-gqa","prompt":"x","max_length":100000}`, nil, 400, "invalid request"},
		{"empty prompt", "POST", "/api/profiling/generate", `{"model_name":"demo-15m-gqa","prompt":""}`, nil, 400, "invalid request"},
		{"unknown field", "POST", "/api/profiling/generate", `{"model":"demo-15m-gqa","prompt":"x"}`, nil, 400, "invalid JSON"},
		{"malformed JSON", "POST", "/api/profiling/generate", `{"model_name":`, nil, 400, "invalid JSON"},
		{"oversize body", "POST", "/api/profiling/generate", big, nil, 413, "body too large"},
		{"wrong content type", "POST", "/api/profiling/generate", okBody, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported content type"},
		{"bad sort", "GET", "/api/profiling/runs?sort=prompt", "", nil, 400, "invalid query"},
		{"bad limit", "GET", "/api/profiling/runs?limit=0", "", nil, 400, "invalid query"},
		{"bad date", "GET", "/api/profiling/runs?from=yesterday", "", nil, 400, "invalid query"},
		{"export format", "GET", "/api/profiling/export/x?format=xml", "", nil, 400, "invalid format"},
		{"export missing", "GET", "/api/profiling/export/x?format=json", "", nil, 404, "not found"},
		{"compare one id", "GET", "/api/profiling/compare?ids=a", "", nil, 400, "invalid ids"},
		{"compare five ids", "GET", "/api/profiling/compare?ids=a,b,c,d,e", "", nil, 400, "invalid ids"},
		{"compare missing", "GET", "/api/profiling/compare?ids=a,b", "", nil, 404, "not found"},
		{"cancel inactive", "POST", "/api/profiling/run/x/cancel", "", nil, 409, "run not active"},
		{"delete missing", "DELETE", "/api/profiling/run/x", "", nil, 404, "not found"},
		{"foreign host", "GET", "/api/health", "", map[string]string{"Host": "evil.example:" + "80"}, 403, "forbidden host"},
		{"right name wrong port", "GET", "/api/health", "", map[string]string{"Host": "127.0.0.1:1"}, 403, "forbidden host"},
		{"foreign origin POST", "POST", "/api/profiling/generate", okBody, map[string]string{"Origin": "http://evil.example"}, 403, "forbidden origin"},
		{"foreign origin DELETE", "DELETE", "/api/profiling/run/x", "", map[string]string{"Origin": "http://evil.example"}, 403, "forbidden origin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do(t, c.method, c.path, c.body, c.header)
			if r.status != c.status || r.body["error"] != c.errText {
				t.Errorf("%s %s: %d %s, want %d %q", c.method, c.path, r.status, r.raw, c.status, c.errText)
			}
			if r.body["detail"] == nil && r.status != 404 {
				t.Errorf("error without detail: %s", r.raw)
			}
		})
	}
	// Same-origin requests from the dashboard itself pass the Origin check.
	host := "127.0.0.1:" + ts.Port
	if r := ts.do(t, "POST", "/api/profiling/generate", okBody, map[string]string{"Origin": "http://" + host}); r.status != 202 {
		t.Errorf("same-origin POST refused: %d %s", r.status, r.raw)
	}
	if r := ts.do(t, "GET", "/api/health", "", map[string]string{"Host": "localhost:" + ts.Port}); r.status != 200 {
		t.Errorf("localhost Host refused: %d", r.status)
	}
}

func TestBearerTokenWhenConfigured(t *testing.T) {
	h := New(Options{Token: "s3cret", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for _, c := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer s3cret", 200}} {
		req := httptest.NewRequest("GET", "http://127.0.0.1/api/health", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("auth %q: %d, want %d", c.auth, rec.Code, c.want)
		}
	}
}

func TestQueuePositionAndCancel(t *testing.T) {
	ts := newTestServer(t, true)
	var ids []string
	for range 3 {
		r := ts.do(t, "POST", "/api/profiling/generate", okBody, nil)
		if r.status != 202 {
			t.Fatalf("generate: %d %s", r.status, r.raw)
		}
		ids = append(ids, r.body["run_id"].(string))
	}
	waitFor(t, func() bool { return ts.queue.Active() == ids[0] })
	r := ts.do(t, "GET", "/api/profiling/run/"+ids[2], "", nil)
	run, _ := r.body["run"].(map[string]any)
	if run["status"] != "queued" || run["position"] != 2.0 {
		t.Fatalf("queued run: %s", r.raw)
	}
	if r := ts.do(t, "DELETE", "/api/profiling/run/"+ids[0], "", nil); r.status != 409 {
		t.Errorf("deleting a running run: %d", r.status)
	}
	// Cancel the queued one, then the running one (mid-run).
	for _, id := range []string{ids[1], ids[0]} {
		if r := ts.do(t, "POST", "/api/profiling/run/"+id+"/cancel", "", nil); r.status != 202 {
			t.Fatalf("cancel %s: %d %s", id, r.status, r.raw)
		}
		if _, err := ts.queue.Wait(t.Context(), id); !errors.Is(err, context.Canceled) {
			t.Errorf("%s after cancel: %v", id, err)
		}
	}
	close(ts.release)
	if _, err := ts.queue.Wait(t.Context(), ids[2]); err != nil {
		t.Errorf("the run after the cancelled ones: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dialLive(t *testing.T, ctx context.Context, ts *testServer, origin string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return websocket.Dial(ctx, strings.Replace(ts.URL, "http", "ws", 1)+"/api/profiling/live", &websocket.DialOptions{HTTPHeader: h})
}

func TestLiveStream(t *testing.T) {
	ts := newTestServer(t, true)
	ctx := t.Context()

	if _, res, err := dialLive(t, ctx, ts, "http://evil.example"); err == nil || res == nil || res.StatusCode != 403 {
		t.Fatalf("foreign-origin upgrade: err=%v res=%v", err, res)
	}

	r := ts.do(t, "POST", "/api/profiling/generate", okBody, nil)
	id := r.body["run_id"].(string)
	waitFor(t, func() bool { return ts.queue.Active() == id })

	// A late joiner: the run has started and announced its phase already.
	c, _, err := dialLive(t, ctx, ts, "http://127.0.0.1:"+ts.Port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	close(ts.release)
	types := map[string]int{}
	for types["finished"] == 0 {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, data, err := c.Read(rctx)
		cancel()
		if err != nil {
			t.Fatalf("read: %v (seen %v)", err, types)
		}
		var ev queue.Event
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
		if types["token"] == 0 && ev.Type == "token" && types["phase"] == 0 {
			t.Errorf("late joiner got tokens before the current phase")
		}
		types[ev.Type]++
	}
	if types["phase"] < 1 || types["token"] != 4 || types["queue"] != 1 {
		t.Errorf("events seen: %v", types)
	}
}

// TestLoad queues 200 runs while 20 WebSocket clients watch. Every run must
// finish, every client must see every run finish (or be dropped for being
// slow, which these are not), and no goroutine may be left behind.
func TestLoad(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		ts := newTestServer(t, true)
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()

		const clients, runs = 20, 200
		var wg sync.WaitGroup
		finished := make([]int, clients)
		for i := range clients {
			c, _, err := dialLive(t, ctx, ts, "")
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.CloseNow()
				for finished[i] < runs {
					_, data, err := c.Read(ctx)
					if err != nil {
						return
					}
					if bytes.Contains(data, []byte(`"type":"finished"`)) {
						finished[i]++
					}
				}
			}()
		}
		var ids []string
		for range runs {
			r := ts.do(t, "POST", "/api/profiling/generate", strings.Replace(okBody, `"max_length":4`, `"max_length":2`, 1), nil)
			if r.status != 202 {
				t.Fatalf("generate under load: %d %s", r.status, r.raw)
			}
			ids = append(ids, r.body["run_id"].(string))
		}
		if q := ts.queue.Len(); q < runs-1 {
			t.Errorf("only %d runs queued behind the held one", q)
		}
		close(ts.release)
		// Runs finish in order, and the queue forgets old ones, so wait for
		// the last and count the rest in the store.
		if _, err := ts.queue.Wait(ctx, ids[len(ids)-1]); err != nil {
			t.Fatalf("last run: %v", err)
		}
		wg.Wait()
		for i, n := range finished {
			if n != runs {
				t.Errorf("client %d saw %d of %d runs finish", i, n, runs)
			}
		}
		page, _ := ts.store.ListRuns(ctx, RunQuery{Limit: 1000})
		if page.Total != runs {
			t.Errorf("%d runs stored, want %d", page.Total, runs)
		}
	}()
	http.DefaultClient.CloseIdleConnections()
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before+2 })
}

func TestLiveAsServerSentEvents(t *testing.T) {
	ts := newTestServer(t, false)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/profiling/live", nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	ts.do(t, "POST", "/api/profiling/generate", okBody, nil)
	sc := bufio.NewScanner(res.Body)
	types := map[string]int{}
	for types["finished"] == 0 && sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev queue.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("bad event %q: %v", line, err)
		}
		types[ev.Type]++
	}
	if types["queue"] != 1 || types["token"] != 4 || types["finished"] != 1 {
		t.Errorf("events %v", types)
	}
}

// Issue 12 item 4, the API side: validate refuses non-finite values even if
// they arrive some other way than JSON text (which cannot spell them).
func TestValidateRefusesNonFiniteSettings(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for name, set := range map[string]func(r *GenerateRequest){
		"temperature NaN": func(r *GenerateRequest) { r.Temperature = &nan },
		"temperature Inf": func(r *GenerateRequest) { r.Temperature = &inf },
		"top_p NaN":       func(r *GenerateRequest) { r.TopP = &nan },
		"idle_s NaN":      func(r *GenerateRequest) { r.IdleS = &nan },
	} {
		r := GenerateRequest{ModelName: "m", Prompt: "p"}
		set(&r)
		if err := r.validate(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
