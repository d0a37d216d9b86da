package external

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/profiler"
)

// script is a fake server's answer: a status, headers, then body parts
// written (and flushed) one by one with an optional pause before each.
type script struct {
	status  int
	header  map[string]string
	parts   []string
	pause   time.Duration // before every part
	hang    bool          // after the parts, stay silent until the client leaves
	cut     bool          // after the parts, drop the connection
	gotBody *string
}

func fakeServer(t *testing.T, sc script) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if sc.gotBody != nil {
			*sc.gotBody = r.URL.Path + " " + string(b)
		}
		for k, v := range sc.header {
			w.Header().Set(k, v)
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "text/event-stream")
		}
		status := sc.status
		if status == 0 {
			status = 200
		}
		w.WriteHeader(status)
		w.(http.Flusher).Flush()
		for _, p := range sc.parts {
			if sc.pause > 0 {
				time.Sleep(sc.pause)
			}
			io.WriteString(w, p)
			w.(http.Flusher).Flush()
		}
		if sc.cut {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		if sc.hang {
			<-r.Context().Done()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func sse(objs ...string) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = "data: " + o + "\n\n"
	}
	return out
}

func delta(text string) string {
	return fmt.Sprintf(`{"model":"served-model","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`, text)
}

const finish = `{"model":"served-model","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`

func usage(in, out int) string {
	return fmt.Sprintf(`{"model":"served-model","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, in, out, in+out)
}

// profileOnce runs Profile against url into a real profiler run (no power)
// and returns the finished record and Profile's error.
func profileOnce(t *testing.T, ctx context.Context, req Request) (*profiler.Record, *Stream, error) {
	t.Helper()
	run, err := profiler.New(profiler.Options{Idle: -1, Host: &profiler.Host{OS: "test"}}).Start(context.Background(),
		profiler.Meta{ModelName: req.Model, Prompt: req.Prompt, Kind: profiler.KindServer})
	if err != nil {
		t.Fatal(err)
	}
	x := Describe(req, false)
	s, perr := Profile(ctx, nil, run, req, x)
	if perr != nil {
		run.Abort(perr)
	} else if _, err := run.Finish(); err != nil {
		t.Fatal(err)
	}
	return run.Record(), s, perr
}

func openAIReq(url string) Request {
	return Request{Endpoint: Endpoint{URL: url + "/v1", API: APIOpenAI}, Model: "m", Prompt: "Say hello", Chat: true, MaxTokens: 16}
}

func pieces(rec *profiler.Record) string {
	var b strings.Builder
	for _, t := range rec.Tokens {
		b.WriteString(t.Piece)
	}
	return b.String()
}

func TestOpenAIStreamOneTokenPerChunk(t *testing.T) {
	var body string
	srv := fakeServer(t, script{parts: sse(delta("Hel"), delta("lo"), delta(" world"), finish, usage(5, 3), "[DONE]"), pause: 5 * time.Millisecond, gotBody: &body})
	rec, s, err := profileOnce(t, context.Background(), openAIReq(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body, "/v1/chat/completions ") || !strings.Contains(body, `"include_usage":true`) || !strings.Contains(body, `"stream":true`) {
		t.Errorf("request %s", body)
	}
	if pieces(rec) != "Hello world" || len(rec.Tokens) != 3 || s.ServerModel != "served-model" {
		t.Fatalf("tokens %q (%d), model %q", pieces(rec), len(rec.Tokens), s.ServerModel)
	}
	x := rec.Run.External
	if x.OutputTokensSource != "reported by the server (usage.completion_tokens)" || x.InputTokensSource != "reported by the server (usage.prompt_tokens)" {
		t.Errorf("sources %q / %q", x.OutputTokensSource, x.InputTokensSource)
	}
	if rec.Summary.InputTokens != 5 || rec.Summary.OutputTokens != 3 || x.FinishReason != "stop" || x.ServerModel != "served-model" {
		t.Errorf("summary in %d out %d, finish %q", rec.Summary.InputTokens, rec.Summary.OutputTokens, x.FinishReason)
	}
	// Phases in order and tiling the run: pre-inference ends when the
	// headers came, prefill when the first text came.
	var names []string
	for i, p := range rec.Phases {
		names = append(names, p.Phase)
		if i > 0 && p.StartNs != rec.Phases[i-1].EndNs {
			t.Errorf("phase %s starts at %d, previous ended at %d", p.Phase, p.StartNs, rec.Phases[i-1].EndNs)
		}
	}
	if strings.Join(names, ",") != "pre_inference,prefill,decode,post_inference" {
		t.Fatalf("phases %v", names)
	}
	if rec.Tokens[0].Phase != "prefill" || rec.Tokens[0].EndNs != rec.Phases[1].EndNs || rec.Tokens[2].EndNs != rec.Phases[2].EndNs {
		t.Errorf("first token %+v; phases %+v", rec.Tokens[0], rec.Phases)
	}
	if rec.Summary.DecodeTokens != 2 || rec.Tokens[1].Phase != "decode" || rec.Tokens[1].ChunkTokens != 1 {
		t.Errorf("decode tokens %d, token 1 %+v", rec.Summary.DecodeTokens, rec.Tokens[1])
	}
	if len(rec.Layers) != 0 || len(rec.Components) != 0 {
		t.Errorf("a server run has no layers: %d layers, %d components", len(rec.Layers), len(rec.Components))
	}
}

func TestSeveralTokensPerChunk(t *testing.T) {
	// 3 chunks of 9, 3 and 6 bytes, the server counting 6 tokens: 3 extra
	// tokens go 9:3:6 → 1.5, 0.5, 1 → 2, 0, 1 by largest remainder after
	// the whole parts (1, 0, 1) and one more to the largest remainder (0.5s tie: first).
	srv := fakeServer(t, script{parts: sse(delta("Hello you"), delta("abc"), delta("xyzuvw"), finish, usage(4, 6), "[DONE]"), pause: 3 * time.Millisecond})
	rec, _, err := profileOnce(t, context.Background(), openAIReq(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	want := []int{3, 1, 2}
	if len(rec.Tokens) != 6 {
		t.Fatalf("%d tokens, want 6", len(rec.Tokens))
	}
	got := map[int]int{}
	for _, tk := range rec.Tokens {
		got[*tk.Chunk]++
		if tk.ChunkTokens != want[*tk.Chunk] {
			t.Errorf("token %d of chunk %d says %d tokens, want %d", tk.Index, *tk.Chunk, tk.ChunkTokens, want[*tk.Chunk])
		}
	}
	for c, n := range want {
		if got[c] != n {
			t.Errorf("chunk %d has %d tokens, want %d", c, got[c], n)
		}
	}
	if pieces(rec) != "Hello youabcxyzuvw" {
		t.Errorf("text %q", pieces(rec))
	}
	// The first chunk's interval (headers → its arrival) is split evenly.
	a, b, c := rec.Tokens[0], rec.Tokens[1], rec.Tokens[2]
	d1, d2, d3 := a.EndNs-a.StartNs, b.EndNs-b.StartNs, c.EndNs-c.StartNs
	if a.StartNs != rec.Phases[1].StartNs || c.EndNs != rec.Phases[1].EndNs || abs(d1-d2) > 1 || abs(d2-d3) > 1 {
		t.Errorf("split windows %d %d %d from %d to %d", d1, d2, d3, a.StartNs, c.EndNs)
	}
	if rec.Run.External.SplitChunks != 2 || rec.Run.External.Chunks != 3 {
		t.Errorf("split %d of %d chunks", rec.Run.External.SplitChunks, rec.Run.External.Chunks)
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestNoUsageCountsChunks(t *testing.T) {
	srv := fakeServer(t, script{parts: sse(delta("a"), delta("b"), delta("c"), delta("d"), finish, "[DONE]")})
	rec, _, err := profileOnce(t, context.Background(), openAIReq(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	x := rec.Run.External
	if rec.Summary.OutputTokens != 4 || x.OutputTokensSource != sourceCounted || rec.Summary.OutputTokensSource != sourceCounted {
		t.Errorf("out %d from %q", rec.Summary.OutputTokens, x.OutputTokensSource)
	}
	if rec.Summary.InputTokens != 0 || !strings.HasPrefix(rec.Summary.InputTokensSource, "unavailable") {
		t.Errorf("input tokens %d (%q) should be unavailable", rec.Summary.InputTokens, rec.Summary.InputTokensSource)
	}
	if _, ok := rec.Summary.JoulesPerInputToken.Get(); ok {
		t.Error("J per input token without input tokens")
	}
}

func TestDoneMissing(t *testing.T) {
	// With a finish reason the stream is complete, with a note.
	srv := fakeServer(t, script{parts: sse(delta("hi"), finish)})
	rec, s, err := profileOnce(t, context.Background(), openAIReq(srv.URL))
	if err != nil || rec.Run.Status != profiler.StatusCompleted {
		t.Fatalf("err %v, status %s", err, rec.Run.Status)
	}
	if !strings.Contains(strings.Join(s.Notes, ";"), "without [DONE]") {
		t.Errorf("notes %v", s.Notes)
	}
	// Without anything saying it ended, it was cut short: failed, and the
	// tokens that came are kept.
	srv = fakeServer(t, script{parts: sse(delta("hi"), delta(" there"))})
	rec, _, err = profileOnce(t, context.Background(), openAIReq(srv.URL))
	if err == nil || rec.Run.Status != profiler.StatusFailed || !strings.Contains(rec.Run.Error, "cut short") {
		t.Fatalf("err %v, status %s %q", err, rec.Run.Status, rec.Run.Error)
	}
	if len(rec.Tokens) != 2 || rec.Summary == nil {
		t.Errorf("kept %d tokens", len(rec.Tokens))
	}
}

func TestErrorsBeforeTheStream(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   string
	}{
		{429, `{"error":{"message":"slow down","type":"rate_limit"}}`, "429 Too Many Requests: slow down (Retry-After: 3)"},
		{500, `internal boom`, "500 Internal Server Error: internal boom"},
		{404, `{"error":"model \"m\" not found, try pulling it first"}`, `404 Not Found: model "m" not found`},
	} {
		srv := fakeServer(t, script{status: c.status, header: map[string]string{"Content-Type": "application/json", "Retry-After": "3"}, parts: []string{c.body}})
		if c.status != 429 {
			srv = fakeServer(t, script{status: c.status, header: map[string]string{"Content-Type": "application/json"}, parts: []string{c.body}})
		}
		rec, _, err := profileOnce(t, context.Background(), openAIReq(srv.URL))
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != c.status || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d: error %v, want %q", c.status, err, c.want)
			continue
		}
		if rec.Run.Status != profiler.StatusFailed || rec.Run.Error != err.Error() || len(rec.Tokens) != 0 {
			t.Errorf("%d: stored %s %q with %d tokens", c.status, rec.Run.Status, rec.Run.Error, len(rec.Tokens))
		}
		if len(rec.Phases) != 2 || rec.Phases[0].Phase != "pre_inference" {
			t.Errorf("%d: phases %+v", c.status, rec.Phases)
		}
	}
}

func TestErrorsDuringTheStream(t *testing.T) {
	// An error event after some text (vLLM and llama.cpp send one when
	// generation fails mid-way).
	srv := fakeServer(t, script{parts: sse(delta("one"), delta(" two"), `{"error":{"message":"CUDA out of memory","code":500}}`)})
	rec, _, err := profileOnce(t, context.Background(), openAIReq(srv.URL))
	if err == nil || !strings.Contains(err.Error(), "CUDA out of memory") || rec.Run.Status != profiler.StatusFailed || len(rec.Tokens) != 2 {
		t.Fatalf("err %v, status %s, %d tokens", err, rec.Run.Status, len(rec.Tokens))
	}
	// A rate limit hit mid-stream (OpenAI-style servers send it as an
	// error event once the 200 and some text have gone out).
	srv = fakeServer(t, script{parts: sse(delta("one"), `{"error":{"message":"Rate limit reached for requests","type":"requests","code":429}}`, "[DONE]")})
	rec, _, err = profileOnce(t, context.Background(), openAIReq(srv.URL))
	if err == nil || !strings.Contains(err.Error(), "Rate limit reached") || rec.Run.Status != profiler.StatusFailed || rec.Run.Error != err.Error() || len(rec.Tokens) != 1 {
		t.Fatalf("429 event: err %v, status %s %q, %d tokens", err, rec.Run.Status, rec.Run.Error, len(rec.Tokens))
	}
	// The connection dropped mid-stream.
	srv = fakeServer(t, script{parts: sse(delta("one")), cut: true})
	rec, _, err = profileOnce(t, context.Background(), openAIReq(srv.URL))
	if err == nil || rec.Run.Status != profiler.StatusFailed || len(rec.Tokens) != 1 {
		t.Fatalf("cut: err %v, status %s, %d tokens", err, rec.Run.Status, len(rec.Tokens))
	}
}

func TestStalledServer(t *testing.T) {
	srv := fakeServer(t, script{parts: sse(delta("slow")), hang: true})
	req := openAIReq(srv.URL)
	req.StallTimeout = 150 * time.Millisecond
	start := time.Now()
	rec, _, err := profileOnce(t, context.Background(), req)
	if !errors.Is(err, ErrStalled) || IsCancel(err) {
		t.Fatalf("err %v, want a stall", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("gave up after %v", el)
	}
	if rec.Run.Status != profiler.StatusFailed || len(rec.Tokens) != 1 {
		t.Errorf("stored %s with %d tokens", rec.Run.Status, len(rec.Tokens))
	}

	// The caller cancels while the server hangs: cancelled, not failed.
	srv = fakeServer(t, script{parts: sse(delta("slow")), hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rec, _, err = profileOnce(t, ctx, openAIReq(srv.URL))
	if !IsCancel(err) || rec.Run.Status != profiler.StatusCancelled {
		t.Fatalf("err %v, status %s", err, rec.Run.Status)
	}

	// Silent before the headers too.
	blocked := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-blocked:
		}
	}))
	defer hang.Close()
	defer close(blocked)
	req = openAIReq(hang.URL)
	req.StallTimeout = 100 * time.Millisecond
	if _, _, err := profileOnce(t, context.Background(), req); !errors.Is(err, ErrStalled) {
		t.Fatalf("before headers: err %v", err)
	}
}

func TestNonJSONLinesSkipped(t *testing.T) {
	parts := []string{": keep-alive comment\n\n", "event: message\n", "data: {not json\n\n", "id: 7\nretry: 1000\n\n"}
	parts = append(parts, sse(delta("ok"), "<html>oops</html>", finish, "[DONE]")...)
	srv := fakeServer(t, script{parts: parts})
	rec, s, err := profileOnce(t, context.Background(), openAIReq(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if pieces(rec) != "ok" || !strings.Contains(strings.Join(s.Notes, ";"), "2 line(s) were not JSON") {
		t.Errorf("text %q notes %v", pieces(rec), s.Notes)
	}
}

func TestOllamaJSONLines(t *testing.T) {
	var body string
	lines := []string{
		`{"model":"llama3.2:1b","created_at":"2024-01-01T00:00:00Z","response":"The","done":false}` + "\n",
		`{"model":"llama3.2:1b","response":" sky","done":false}` + "\n",
		"not json at all\n",
		`{"model":"llama3.2:1b","response":" is blue","done":false}` + "\n",
		`{"model":"llama3.2:1b","response":"","done":true,"done_reason":"stop","total_duration":5000000000,"load_duration":1000000,"prompt_eval_count":12,"prompt_eval_duration":200000000,"eval_count":4,"eval_duration":300000000}` + "\n",
	}
	srv := fakeServer(t, script{parts: lines, header: map[string]string{"Content-Type": "application/x-ndjson"}, gotBody: &body, pause: 2 * time.Millisecond})
	req := Request{Endpoint: Endpoint{URL: srv.URL, API: APIOllama}, Model: "llama3.2:1b", Prompt: "Why is the sky blue?", MaxTokens: 8}
	rec, s, err := profileOnce(t, context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body, "/api/generate ") || !strings.Contains(body, `"num_predict":8`) {
		t.Errorf("request %s", body)
	}
	x := rec.Run.External
	if rec.Summary.OutputTokens != 4 || rec.Summary.InputTokens != 12 || x.OutputTokensSource != "reported by the server (ollama eval_count)" {
		t.Errorf("counts %d/%d from %q", rec.Summary.InputTokens, rec.Summary.OutputTokens, x.OutputTokensSource)
	}
	// " is blue" carried two tokens by the server's count.
	if rec.Tokens[3].ChunkTokens != 2 || *rec.Tokens[3].Chunk != 2 || pieces(rec) != "The sky is blue" {
		t.Errorf("tokens %+v", rec.Tokens)
	}
	if x.ServerTimings["ollama eval_duration_ns"] != 3e8 || x.ServerTimings["ollama prompt_eval_duration_ns"] != 2e8 || x.FinishReason != "stop" {
		t.Errorf("timings %v", x.ServerTimings)
	}
	if len(s.Notes) != 1 || x.ServerModel != "llama3.2:1b" {
		t.Errorf("notes %v, model %q", s.Notes, x.ServerModel)
	}

	// /api/chat with message content, and an error line.
	srv = fakeServer(t, script{parts: []string{`{"model":"m","message":{"role":"assistant","content":"Hi"},"done":false}` + "\n", `{"error":"model runner crashed"}` + "\n"}})
	req = Request{Endpoint: Endpoint{URL: srv.URL, API: APIOllama}, Model: "m", Prompt: "Hi", Chat: true}
	rec, _, err = profileOnce(t, context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "model runner crashed") || len(rec.Tokens) != 1 || rec.Run.Status != profiler.StatusFailed {
		t.Errorf("chat error: %v, %d tokens", err, len(rec.Tokens))
	}
}

func TestLyingTokenCounts(t *testing.T) {
	for _, c := range []struct {
		name    string
		in, out int
		why     string
	}{
		{"too many", 3, 100000, "more than the 16 asked for"},
		{"fewer than chunks", 3, 1, "fewer tokens than chunks"},
		{"negative", -4, -2, "a negative count"},
	} {
		srv := fakeServer(t, script{parts: sse(delta("ab"), delta("cd"), delta("ef"), finish, usage(c.in, c.out), "[DONE]")})
		rec, _, err := profileOnce(t, context.Background(), openAIReq(srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		x := rec.Run.External
		notes := strings.Join(x.Notes, ";")
		if rec.Summary.OutputTokens != 3 || x.OutputTokensSource != sourceCounted || !strings.Contains(notes, c.why) || *x.ReportedOutputTokens != c.out {
			t.Errorf("%s: out %d from %q, notes %q", c.name, rec.Summary.OutputTokens, x.OutputTokensSource, notes)
		}
		if c.in < 0 && (rec.Summary.InputTokens != 0 || !strings.HasPrefix(x.InputTokensSource, "unavailable")) {
			t.Errorf("%s: prompt tokens %d from %q", c.name, rec.Summary.InputTokens, x.InputTokensSource)
		}
	}
	// More tokens than bytes, without max_tokens to catch it.
	srv := fakeServer(t, script{parts: sse(delta("ab"), finish, usage(3, 50), "[DONE]")})
	req := openAIReq(srv.URL)
	req.MaxTokens = 0
	rec, _, _ := profileOnce(t, context.Background(), req)
	if rec.Summary.OutputTokens != 1 || !strings.Contains(strings.Join(rec.Run.External.Notes, ";"), "more tokens than the text has bytes") {
		t.Errorf("bytes: out %d, notes %v", rec.Summary.OutputTokens, rec.Run.External.Notes)
	}
}

func TestContinuousUsagePerChunk(t *testing.T) {
	// vLLM's continuous usage: a running total in every chunk.
	chunk := func(text string, cum int) string {
		return fmt.Sprintf(`{"choices":[{"delta":{"content":%q}}],"usage":{"prompt_tokens":2,"completion_tokens":%d}}`, text, cum)
	}
	srv := fakeServer(t, script{parts: sse(chunk("a", 1), chunk("bcd", 4), chunk("e", 5), finish, usage(2, 5), "[DONE]")})
	rec, _, err := profileOnce(t, context.Background(), openAIReq(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Tokens[1].ChunkTokens != 3 || len(rec.Tokens) != 5 || !strings.HasSuffix(rec.Run.External.OutputTokensSource, "per chunk)") {
		t.Errorf("tokens %+v source %q", rec.Tokens, rec.Run.External.OutputTokensSource)
	}
}

func TestSpreadAndSplitText(t *testing.T) {
	for _, c := range []struct {
		lens []int
		n    int
		want []int
	}{
		{[]int{1, 1, 1}, 3, []int{1, 1, 1}},
		{[]int{2, 2}, 6, []int{3, 3}},
		{[]int{10, 0, 0}, 5, []int{3, 1, 1}},
		{[]int{3, 1}, 4, []int{3, 1}}, // extra 2 split 1.5 / 0.5: whole 1/0, then the remainders .5 and .5: first wins
		{[]int{1, 3}, 6, []int{2, 4}}, // extra 4 split 1 / 3
	} {
		cs := make([]Chunk, len(c.lens))
		for i, l := range c.lens {
			cs[i].Text = strings.Repeat("x", l)
		}
		got := spread(cs, c.n)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("spread %v over %d: %v, want %v", c.lens, c.n, got, c.want)
		}
	}
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"abcdef", 3, "[ab cd ef]"},
		{"héllo", 2, "[hé llo]"},
		{"ab", 3, "[ a b]"},
	} {
		if got := fmt.Sprint(splitText(c.s, c.n)); got != c.want {
			t.Errorf("split %q in %d: %s, want %s", c.s, c.n, got, c.want)
		}
	}
}

// llama.cpp's server ends its stream with its own timings (format of
// tools/server: prompt_n, prompt_ms, predicted_n, predicted_ms, …): they
// are stored beside ours, and give the token counts where no usage came.
func TestLlamaCppTimings(t *testing.T) {
	last := `{"model":"served-model","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"timings":{"prompt_n":7,"prompt_ms":12.5,"prompt_per_token_ms":1.79,"prompt_per_second":560,"predicted_n":3,"predicted_ms":45.25,"predicted_per_token_ms":15.08,"predicted_per_second":66.3}}`
	srv := fakeServer(t, script{parts: sse(delta("one"), delta(" two"), delta(" three"), last, "[DONE]")})
	rec, _, err := profileOnce(t, context.Background(), openAIReq(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	x := rec.Run.External
	if x.ServerTimings["llama.cpp predicted_ms"] != 45.25 || x.ServerTimings["llama.cpp prompt_ms"] != 12.5 || x.ServerTimings["llama.cpp predicted_n"] != 3 {
		t.Errorf("timings %v", x.ServerTimings)
	}
	if rec.Summary.OutputTokens != 3 || rec.Summary.InputTokens != 7 || x.OutputTokensSource != "reported by the server (llama.cpp timings.predicted_n)" ||
		x.InputTokensSource != "reported by the server (llama.cpp timings.prompt_n)" {
		t.Errorf("counts %d/%d from %q / %q", rec.Summary.InputTokens, rec.Summary.OutputTokens, x.InputTokensSource, x.OutputTokensSource)
	}
}
