package external

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"energyprofiler/backend/clock"
)

// Request is one generation to ask a server for.
type Request struct {
	Endpoint Endpoint
	Model    string
	Prompt   string
	// Chat sends the prompt as one user message (/chat/completions,
	// /api/chat) instead of a raw completion (/completions, /api/generate).
	Chat        bool
	MaxTokens   int
	Temperature *float64
	TopP        *float64
	Seed        *int64
	// StallTimeout fails the request when the server sends nothing for
	// this long, waiting for the headers included (default
	// DefaultStallTimeout: a server may first load the model).
	StallTimeout time.Duration
}

// DefaultStallTimeout is how long a server may stay silent.
const DefaultStallTimeout = 120 * time.Second

// Limits on what a server may send.
const (
	maxLineBytes   = 1 << 20
	maxStreamBytes = 64 << 20
)

// Route is the path requested after the endpoint's URL.
func (r Request) Route() string {
	switch {
	case r.Endpoint.API == APIOllama && r.Chat:
		return "/api/chat"
	case r.Endpoint.API == APIOllama:
		return "/api/generate"
	case r.Chat:
		return "/chat/completions"
	}
	return "/completions"
}

// Params are the request's parameters as stored with the run (never a key).
func (r Request) Params() map[string]any {
	p := map[string]any{"chat": r.Chat, "max_tokens": r.MaxTokens, "stream": true}
	if r.Temperature != nil {
		p["temperature"] = *r.Temperature
	}
	if r.TopP != nil {
		p["top_p"] = *r.TopP
	}
	if r.Seed != nil {
		p["seed"] = *r.Seed
	}
	if r.Endpoint.API == APIOpenAI {
		p["stream_options"] = map[string]any{"include_usage": true}
	}
	return p
}

func (r Request) body() ([]byte, error) {
	msgs := []map[string]string{{"role": "user", "content": r.Prompt}}
	if r.Endpoint.API == APIOllama {
		opts := map[string]any{}
		if r.MaxTokens > 0 {
			opts["num_predict"] = r.MaxTokens
		}
		if r.Temperature != nil {
			opts["temperature"] = *r.Temperature
		}
		if r.TopP != nil {
			opts["top_p"] = *r.TopP
		}
		if r.Seed != nil {
			opts["seed"] = *r.Seed
		}
		b := map[string]any{"model": r.Model, "stream": true, "options": opts}
		if r.Chat {
			b["messages"] = msgs
		} else {
			b["prompt"] = r.Prompt
		}
		return json.Marshal(b)
	}
	b := map[string]any{"model": r.Model, "stream": true, "stream_options": map[string]any{"include_usage": true}}
	if r.MaxTokens > 0 {
		b["max_tokens"] = r.MaxTokens
	}
	if r.Temperature != nil {
		b["temperature"] = *r.Temperature
	}
	if r.TopP != nil {
		b["top_p"] = *r.TopP
	}
	if r.Seed != nil {
		b["seed"] = *r.Seed
	}
	if r.Chat {
		b["messages"] = msgs
	} else {
		b["prompt"] = r.Prompt
	}
	return json.Marshal(b)
}

// Chunk is one streamed piece that carried text.
type Chunk struct {
	At   int64 // clock.Now() when it arrived
	Text string
	// Tokens is how many tokens the server said the chunk carries
	// (vLLM's per-chunk usage); 0 when it did not say.
	Tokens int
}

// Stream is what one streamed response was, on the profiler's clock.
type Stream struct {
	Sent    int64 // the request started
	Headers int64 // response headers arrived (0: they never did)
	End     int64 // the stream ended
	Chunks  []Chunk
	// ServerModel is the model's name as the server reported it.
	ServerModel  string
	FinishReason string
	// What the server reported, and in which field.
	PromptTokens, CompletionTokens *int
	PromptSource, CompletionSource string
	// Timings are the server's own durations, named with their unit.
	Timings map[string]float64
	// Done is true when the server said the stream was complete ([DONE],
	// or ollama's done: true).
	Done  bool
	Notes []string
	// Status is the HTTP status (0 when no response came).
	Status int
}

// Text is the generated text.
func (s *Stream) Text() string {
	var b strings.Builder
	for _, c := range s.Chunks {
		b.WriteString(c.Text)
	}
	return b.String()
}

// Observer hears about a stream as it happens (for the live view); its
// calls are made on the reading goroutine and must be quick.
type Observer struct {
	Headers func(at int64)
	Chunk   func(index int, c Chunk)
}

// ErrStalled is the cause of a request that the server left silent.
var ErrStalled = errors.New("the server sent nothing for too long")

// HTTPError is a response that was not a success.
type HTTPError struct {
	Status     int
	Message    string
	RetryAfter string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("the server answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RetryAfter != "" {
		msg += " (Retry-After: " + e.RetryAfter + ")"
	}
	return msg
}

// Do sends req and reads its stream to the end. The returned Stream holds
// what arrived even when err is not nil (a failure mid-stream).
func Do(ctx context.Context, hc *http.Client, req Request, obs Observer) (*Stream, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	stall := req.StallTimeout
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	body, err := req.body()
	if err != nil {
		return &Stream{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(stall, func() { cancel(fmt.Errorf("%w (%s)", ErrStalled, stall)) })
	defer timer.Stop()

	url := req.Endpoint.URL + req.Route()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return &Stream{}, fmt.Errorf("request %s: %w", Redact(url), err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "text/event-stream, application/x-ndjson, application/json")
	if k := req.Endpoint.key(); k != "" {
		hr.Header.Set("Authorization", "Bearer "+k)
	}
	s := &Stream{Sent: clock.Now(), Timings: map[string]float64{}}
	resp, err := hc.Do(hr)
	if err != nil {
		s.End = clock.Now()
		return s, requestError(ctx, url, err)
	}
	defer resp.Body.Close()
	s.Headers, s.Status = clock.Now(), resp.StatusCode
	timer.Reset(stall)
	if obs.Headers != nil {
		obs.Headers(s.Headers)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := readLimited(resp.Body, 4096)
		s.End = clock.Now()
		return s, fmt.Errorf("%s: %w", Redact(url), statusError(resp, b))
	}
	r := &stallReader{r: io.LimitReader(resp.Body, maxStreamBytes+1), timer: timer, stall: stall}
	p := &parser{s: s, obs: obs, req: req}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case req.Endpoint.API == APIOllama:
		err = p.lines(r, p.ollamaLine)
	case mt == "application/json":
		// A server that ignored "stream": true: one answer, one chunk.
		p.note("the server did not stream (Content-Type application/json): the whole answer is one chunk")
		err = p.whole(r)
	default:
		err = p.lines(r, p.sseLine)
	}
	s.End = clock.Now()
	if r.n > maxStreamBytes {
		return s, fmt.Errorf("%s: the response exceeds %d MiB; refusing the rest", Redact(url), maxStreamBytes>>20)
	}
	if err != nil {
		return s, requestError(ctx, url, err)
	}
	if !s.Done {
		if s.FinishReason == "" && s.CompletionTokens == nil {
			return s, fmt.Errorf("%s: the stream ended before the server said it was done (no [DONE], no finish reason): the answer may be cut short", Redact(url))
		}
		p.note("the stream ended without [DONE]; it had a finish reason or usage, so it is taken as complete")
	}
	return s, nil
}

func requestError(ctx context.Context, url string, err error) error {
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, ErrStalled) {
		return fmt.Errorf("%s: %w", Redact(url), cause)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", Redact(url), context.Canceled)
	}
	return fmt.Errorf("%s: %w", Redact(url), err)
}

func statusError(resp *http.Response, body []byte) error {
	e := &HTTPError{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	var obj struct {
		Error any `json:"error"`
	}
	if json.Unmarshal(body, &obj) == nil && obj.Error != nil {
		switch v := obj.Error.(type) {
		case string:
			e.Message = v
		case map[string]any:
			if m, ok := v["message"].(string); ok {
				e.Message = m
			}
		}
	}
	if e.Message == "" {
		e.Message = oneLine(string(body), 200)
	}
	return e
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func readLimited(r io.Reader, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > n {
		return nil, fmt.Errorf("the answer exceeds %d bytes", n)
	}
	return b, nil
}

// stallReader pushes the stall deadline back whenever bytes arrive.
type stallReader struct {
	r     io.Reader
	timer *time.Timer
	stall time.Duration
	n     int64
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.n += int64(n)
		s.timer.Reset(s.stall)
	}
	return n, err
}

type parser struct {
	s       *Stream
	obs     Observer
	req     Request
	badJSON int
	prevCum int // the last cumulative completion count seen per chunk
}

func (p *parser) note(msg string) {
	for _, n := range p.s.Notes {
		if n == msg {
			return
		}
	}
	p.s.Notes = append(p.s.Notes, msg)
}

func (p *parser) addChunk(text string, tokens int) {
	if text == "" {
		return
	}
	c := Chunk{At: clock.Now(), Text: text, Tokens: tokens}
	p.s.Chunks = append(p.s.Chunks, c)
	if p.obs.Chunk != nil {
		p.obs.Chunk(len(p.s.Chunks)-1, c)
	}
}

// lines reads newline-separated lines (at most maxLineBytes each) and
// hands each to fn; fn returns io.EOF to stop early.
func (p *parser) lines(r io.Reader, fn func(line []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	defer func() {
		if p.badJSON > 0 {
			p.note(fmt.Sprintf("%d line(s) were not JSON and were skipped", p.badJSON))
		}
	}()
	for {
		line, err := readLine(br)
		if len(line) > 0 {
			if ferr := fn(line); ferr != nil {
				if ferr == io.EOF {
					return nil
				}
				return ferr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, isPrefix, err := br.ReadLine()
		line = append(line, part...)
		if len(line) > maxLineBytes {
			return nil, fmt.Errorf("a line of the stream exceeds %d KiB", maxLineBytes>>10)
		}
		if err != nil || !isPrefix {
			return bytes.TrimSpace(line), err
		}
	}
}

// openAIChunk covers chat and completion chunks, usage, llama.cpp's
// timings and error events.
type openAIChunk struct {
	Model   string `json:"model"`
	Choices []struct {
		Text  *string `json:"text"`
		Delta struct {
			Content          *string `json:"content"`
			ReasoningContent *string `json:"reasoning_content"`
			Reasoning        *string `json:"reasoning"`
		} `json:"delta"`
		Message *struct {
			Content *string `json:"content"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     *int `json:"prompt_tokens"`
		CompletionTokens *int `json:"completion_tokens"`
	} `json:"usage"`
	Timings map[string]any `json:"timings"`
	Error   any            `json:"error"`
}

// sseLine handles one line of server-sent events. Each data line is one
// event (LLM servers put one JSON object per line); comments, event names,
// ids and retry hints are ignored as the SSE format allows.
func (p *parser) sseLine(line []byte) error {
	data, ok := bytes.CutPrefix(line, []byte("data:"))
	if !ok {
		if line[0] == '{' { // a server sending bare JSON lines
			data = line
		} else {
			return nil
		}
	}
	data = bytes.TrimSpace(data)
	if string(data) == "[DONE]" {
		p.s.Done = true
		return io.EOF
	}
	var c openAIChunk
	if err := json.Unmarshal(data, &c); err != nil {
		p.badJSON++
		return nil
	}
	return p.openAI(c, false)
}

func (p *parser) whole(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var c openAIChunk
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("the answer is not JSON: %v", err)
	}
	p.s.Done = true
	return p.openAI(c, true)
}

func (p *parser) openAI(c openAIChunk, whole bool) error {
	if c.Error != nil {
		msg := fmt.Sprint(c.Error)
		if m, ok := c.Error.(map[string]any); ok {
			if s, ok := m["message"].(string); ok {
				msg = s
			}
		}
		return fmt.Errorf("the server reported an error during the stream: %s", oneLine(msg, 300))
	}
	if c.Model != "" {
		p.s.ServerModel = c.Model
	}
	var text string
	for _, ch := range c.Choices {
		for _, s := range []*string{ch.Delta.ReasoningContent, ch.Delta.Reasoning, ch.Delta.Content, ch.Text} {
			if s != nil {
				text += *s
			}
		}
		if whole && ch.Message != nil && ch.Message.Content != nil {
			text += *ch.Message.Content
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			p.s.FinishReason = *ch.FinishReason
		}
	}
	tokens := 0
	if u := c.Usage; u != nil {
		if u.PromptTokens != nil {
			v := *u.PromptTokens
			p.s.PromptTokens, p.s.PromptSource = &v, "usage.prompt_tokens"
		}
		if u.CompletionTokens != nil {
			v := *u.CompletionTokens
			p.s.CompletionTokens, p.s.CompletionSource = &v, "usage.completion_tokens"
			// Usage beside text is a running total (vLLM's continuous
			// usage stats): the difference is this chunk's tokens.
			if text != "" && v > p.prevCum {
				tokens = v - p.prevCum
			}
			p.prevCum = max(p.prevCum, v)
		}
	}
	for k, v := range c.Timings {
		if f, ok := v.(float64); ok {
			p.s.Timings["llama.cpp "+k] = f
		}
	}
	if n, ok := c.Timings["predicted_n"].(float64); ok && p.s.CompletionTokens == nil {
		v := int(n)
		p.s.CompletionTokens, p.s.CompletionSource = &v, "llama.cpp timings.predicted_n"
	}
	if n, ok := c.Timings["prompt_n"].(float64); ok && p.s.PromptTokens == nil {
		v := int(n)
		p.s.PromptTokens, p.s.PromptSource = &v, "llama.cpp timings.prompt_n"
	}
	p.addChunk(text, tokens)
	return nil
}

type ollamaLine struct {
	Model    string `json:"model"`
	Response string `json:"response"`
	Thinking string `json:"thinking"`
	Message  *struct {
		Content  string `json:"content"`
		Thinking string `json:"thinking"`
	} `json:"message"`
	Done               bool   `json:"done"`
	DoneReason         string `json:"done_reason"`
	Error              string `json:"error"`
	TotalDuration      *int64 `json:"total_duration"`
	LoadDuration       *int64 `json:"load_duration"`
	PromptEvalCount    *int   `json:"prompt_eval_count"`
	PromptEvalDuration *int64 `json:"prompt_eval_duration"`
	EvalCount          *int   `json:"eval_count"`
	EvalDuration       *int64 `json:"eval_duration"`
}

// ollamaLine handles one line of ollama's streamed JSON: text while done is
// false, then a last object with the counts and durations.
func (p *parser) ollamaLine(line []byte) error {
	var o ollamaLine
	if err := json.Unmarshal(line, &o); err != nil {
		p.badJSON++
		return nil
	}
	if o.Error != "" {
		return fmt.Errorf("ollama reported an error during the stream: %s", oneLine(o.Error, 300))
	}
	if o.Model != "" {
		p.s.ServerModel = o.Model
	}
	text := o.Thinking + o.Response
	if o.Message != nil {
		text += o.Message.Thinking + o.Message.Content
	}
	p.addChunk(text, 0)
	if !o.Done {
		return nil
	}
	p.s.Done = true
	p.s.FinishReason = o.DoneReason
	if o.PromptEvalCount != nil {
		v := *o.PromptEvalCount
		p.s.PromptTokens, p.s.PromptSource = &v, "ollama prompt_eval_count"
	}
	if o.EvalCount != nil {
		v := *o.EvalCount
		p.s.CompletionTokens, p.s.CompletionSource = &v, "ollama eval_count"
	}
	for name, d := range map[string]*int64{"total_duration_ns": o.TotalDuration, "load_duration_ns": o.LoadDuration,
		"prompt_eval_duration_ns": o.PromptEvalDuration, "eval_duration_ns": o.EvalDuration} {
		if d != nil {
			p.s.Timings["ollama "+name] = float64(*d)
		}
	}
	return io.EOF
}
