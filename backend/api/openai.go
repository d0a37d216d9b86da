package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"energyprofiler/backend/chat"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/queue"
)

// An OpenAI-compatible endpoint of our own: GET /v1/models, POST
// /v1/chat/completions and POST /v1/completions, streaming (server-sent
// events) or not, with usage (and stream_options.include_usage honoured).
// Every request is a profiled run of the built-in engine, queued like any
// other and tagged openai-api; its id comes back in the RunIDHeader header
// and in an "energyprofiler" object beside the usage. The same security
// applies as to /api: loopback only by default, Host and Origin checks,
// and with --allow-remote the token as "Authorization: Bearer TOKEN",
// which is what OpenAI clients send as their API key.
//
// A chat request's whole messages list (system, user and assistant turns)
// is rendered by the model's own chat template with add_generation_prompt
// on, and generation stops at the template's end-of-turn tokens; a model
// without a template gets chat.Plain's role-prefixed fallback ("System: …",
// "User: …", then "Assistant:"), and the run's settings say which was used.
// Energy Profiler's own knobs may ride along in the body: profiling_depth,
// tags, idle_s.

// RunIDHeader carries the profiled run's id on every /v1 generation.
const RunIDHeader = "X-Energyprofiler-Run-Id"

// OpenAITag is the tag every run made through /v1 carries.
const OpenAITag = "openai-api"

// v1DefaultMaxTokens is max_tokens when the request leaves it out.
const v1DefaultMaxTokens = 64

type v1Message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type v1Request struct {
	Model               string          `json:"model"`
	Messages            []v1Message     `json:"messages"`
	Prompt              json.RawMessage `json:"prompt"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Seed                *int64          `json:"seed"`
	N                   *int            `json:"n"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Stop           json.RawMessage `json:"stop"`
	Tools          json.RawMessage `json:"tools"`
	ResponseFormat json.RawMessage `json:"response_format"`
	Logprobs       json.RawMessage `json:"logprobs"`
	// Energy Profiler's own.
	ProfilingDepth string   `json:"profiling_depth"`
	Tags           []string `json:"tags"`
	IdleS          *float64 `json:"idle_s"`
}

func (h *Handler) routeOpenAI() {
	h.mux.HandleFunc("GET /v1/models", h.v1Models)
	h.mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) { h.v1Generate(w, r, true) })
	h.mux.HandleFunc("POST /v1/completions", func(w http.ResponseWriter, r *http.Request) { h.v1Generate(w, r, false) })
	h.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		v1Error(w, http.StatusNotFound, "invalid_request_error", fmt.Sprintf("no endpoint %s %s: this server offers GET /v1/models, POST /v1/chat/completions and POST /v1/completions", r.Method, r.URL.Path))
	})
}

// v1Error writes an error in OpenAI's shape.
func v1Error(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
}

func (h *Handler) v1Models(w http.ResponseWriter, r *http.Request) {
	data := []map[string]any{}
	if h.opts.Models != nil {
		models, err := h.opts.Models.ListModels(r.Context())
		if err != nil {
			v1Error(w, http.StatusInternalServerError, "server_error", err.Error())
			return
		}
		for _, m := range models {
			if m.Error == "" {
				data = append(data, map[string]any{"id": m.Name, "object": "model", "created": 0, "owned_by": "energyprofiler"})
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// v1Prompt turns the request into the engine's prompt.
func (q *v1Request) prompt(isChat bool) (string, error) {
	if !isChat {
		var s string
		if err := json.Unmarshal(q.Prompt, &s); err == nil {
			return s, nil
		}
		var list []string
		if err := json.Unmarshal(q.Prompt, &list); err == nil && len(list) == 1 {
			return list[0], nil
		}
		return "", errors.New("prompt must be a string (or a list of one string)")
	}
	msgs, err := q.messages()
	if err != nil {
		return "", err
	}
	return chat.Plain(msgs), nil
}

// messages reads a chat request's conversation.
func (q *v1Request) messages() ([]chat.Message, error) {
	if len(q.Messages) == 0 {
		return nil, errors.New("messages must hold at least one message")
	}
	out := make([]chat.Message, len(q.Messages))
	for i, m := range q.Messages {
		text, err := messageText(m.Content)
		if err != nil {
			return nil, fmt.Errorf("messages[%d].content: %w", i, err)
		}
		if !slices.Contains(chat.PlainRoles, m.Role) {
			return nil, fmt.Errorf("messages[%d].role %q: use system, user or assistant", i, m.Role)
		}
		out[i] = chat.Message{Role: m.Role, Content: text}
	}
	return out, nil
}

// messageText reads a message's content: a string, or a list of text parts.
func messageText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("give a string or a list of text parts")
	}
	var out []string
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("part type %q: only text is supported", p.Type)
		}
		out = append(out, p.Text)
	}
	return strings.Join(out, "\n"), nil
}

func present(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s != "null" && s != "[]" && s != `""` && s != "false"
}

// toGenerate checks a /v1 request and turns it into a generate request.
func (q *v1Request) toGenerate(isChat bool) (GenerateRequest, error) {
	var g GenerateRequest
	if q.Model == "" {
		return g, errors.New("model is required (see GET /v1/models)")
	}
	switch {
	case q.N != nil && *q.N != 1:
		return g, errors.New("n: only 1 completion per request")
	case present(q.Stop):
		return g, errors.New("stop sequences are not supported; leave stop out")
	case present(q.Tools):
		return g, errors.New("tools are not supported")
	case present(q.ResponseFormat) && !strings.Contains(string(q.ResponseFormat), `"text"`):
		return g, errors.New("response_format: only text is supported")
	case present(q.Logprobs):
		return g, errors.New("logprobs are not supported")
	}
	prompt, err := q.prompt(isChat)
	if err != nil {
		return g, err
	}
	var msgs []chat.Message
	if isChat {
		if msgs, err = q.messages(); err != nil {
			return g, err
		}
	}
	max := v1DefaultMaxTokens
	if q.MaxCompletionTokens != nil {
		max = *q.MaxCompletionTokens
	} else if q.MaxTokens != nil {
		max = *q.MaxTokens
	}
	g = GenerateRequest{ModelName: q.Model, Prompt: prompt, Messages: msgs, ProfilingDepth: q.ProfilingDepth, MaxLength: max,
		Tags: append([]string{OpenAITag}, q.Tags...), Temperature: q.Temperature, TopP: q.TopP, Seed: q.Seed, IdleS: q.IdleS}
	greedy := q.Temperature == nil || *q.Temperature == 0
	g.Greedy = &greedy
	if len(g.Tags) > maxTags {
		return g, fmt.Errorf("at most %d tags", maxTags-1)
	}
	return g, g.validate()
}

// pieces is an unbounded queue of generated text between the engine (which
// must never wait) and the HTTP response (which may be slow).
type pieces struct {
	mu     sync.Mutex
	items  []string
	notify chan struct{}
}

func (p *pieces) push(s string) {
	p.mu.Lock()
	p.items = append(p.items, s)
	p.mu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

func (p *pieces) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.items
	p.items = nil
	return out
}

func (h *Handler) v1Generate(w http.ResponseWriter, r *http.Request, isChat bool) {
	if h.opts.Queue == nil || h.opts.Models == nil {
		v1Error(w, http.StatusServiceUnavailable, "server_error", "this server was started without a run queue")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	var q v1Request
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		v1Error(w, http.StatusBadRequest, "invalid_request_error", "the body is not a JSON request: "+err.Error())
		return
	}
	req, err := q.toGenerate(isChat)
	if err != nil {
		v1Error(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	path, err := h.opts.Models.Resolve(req.ModelName)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrBadRequest) {
			status = http.StatusNotFound
		}
		v1Error(w, status, "invalid_request_error", fmt.Sprintf("model %q: %v (see GET /v1/models)", req.ModelName, err))
		return
	}
	req.ModelPath = path
	if len(req.Messages) > 0 && h.opts.CheckMessages != nil {
		if err := h.opts.CheckMessages(r.Context(), path, req.Messages); err != nil {
			v1Error(w, http.StatusBadRequest, "invalid_request_error", err.Error())
			return
		}
	} else if h.opts.CheckPrompt != nil {
		if err := h.opts.CheckPrompt(r.Context(), path, req.Prompt, false); err != nil {
			v1Error(w, http.StatusBadRequest, "invalid_request_error", err.Error())
			return
		}
	}
	out := &pieces{notify: make(chan struct{}, 1)}
	req.OnToken = out.push
	id := h.opts.NewRunID()
	if _, err := h.opts.Queue.Submit(id, req); err != nil {
		switch {
		case errors.Is(err, queue.ErrFull):
			w.Header().Set("Retry-After", "10")
			v1Error(w, http.StatusTooManyRequests, "rate_limit_error", err.Error())
		case errors.Is(err, ErrUnavailable):
			v1Error(w, http.StatusServiceUnavailable, "server_error", err.Error())
		default:
			v1Error(w, http.StatusInternalServerError, "server_error", err.Error())
		}
		return
	}
	w.Header().Set(RunIDHeader, id)
	// The run lasts as long as it lasts: lift the server's deadlines.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})

	type ended struct {
		result any
		err    error
	}
	done := make(chan ended, 1)
	go func() {
		res, err := h.opts.Queue.Wait(r.Context(), id)
		done <- ended{res, err}
	}()
	created := time.Now().Unix()
	object, chunkObject, respID := "text_completion", "text_completion", "cmpl-"+id
	if isChat {
		object, chunkObject, respID = "chat.completion", "chat.completion.chunk", "chatcmpl-"+id
	}
	if !q.Stream {
		var e ended
		select {
		case e = <-done:
		case <-r.Context().Done():
		}
		if r.Context().Err() != nil {
			_ = h.opts.Queue.Cancel(id) // the client left: stop the run (stored as cancelled)
			return
		}
		text := strings.Join(out.take(), "")
		sum, _ := e.result.(*profiler.Summary)
		if e.err != nil || sum == nil || sum.Status != profiler.StatusCompleted {
			msg := "the run did not complete"
			if e.err != nil {
				msg = e.err.Error()
			}
			v1Error(w, http.StatusInternalServerError, "server_error", fmt.Sprintf("run %s: %s", id, msg))
			return
		}
		choice := map[string]any{"index": 0, "finish_reason": finishReason(sum, req.MaxLength), "logprobs": nil}
		if isChat {
			choice["message"] = map[string]any{"role": "assistant", "content": text}
		} else {
			choice["text"] = text
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": respID, "object": object, "created": created, "model": req.ModelName,
			"choices": []any{choice}, "usage": usage(sum), "energyprofiler": energyOf(id, sum)})
		return
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		choice := map[string]any{"index": 0, "finish_reason": finish, "logprobs": nil}
		if isChat {
			choice["delta"] = delta
		} else {
			choice["text"] = delta["content"]
		}
		return map[string]any{"id": respID, "object": chunkObject, "created": created, "model": req.ModelName, "choices": []any{choice}}
	}
	if isChat {
		send(chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	}
	_ = rc.Flush()
	flushPieces := func() {
		for _, p := range out.take() {
			if p != "" {
				send(chunk(map[string]any{"content": p}, nil))
			}
		}
		_ = rc.Flush()
	}
	var e ended
	for wait := true; wait; {
		select {
		case <-out.notify:
			flushPieces()
		case e = <-done:
			wait = false
		case <-r.Context().Done():
			_ = h.opts.Queue.Cancel(id)
			return
		}
	}
	flushPieces()
	sum, _ := e.result.(*profiler.Summary)
	if e.err != nil || sum == nil || sum.Status != profiler.StatusCompleted {
		msg := "the run did not complete"
		if e.err != nil {
			msg = e.err.Error()
		}
		send(map[string]any{"error": map[string]any{"message": fmt.Sprintf("run %s: %s", id, msg), "type": "server_error"}})
		_ = rc.Flush()
		return
	}
	final := chunk(map[string]any{}, finishReason(sum, req.MaxLength))
	if q.StreamOptions != nil && q.StreamOptions.IncludeUsage {
		final["usage"] = nil
		send(final)
		send(map[string]any{"id": respID, "object": chunkObject, "created": created, "model": req.ModelName, "choices": []any{},
			"usage": usage(sum), "energyprofiler": energyOf(id, sum)})
	} else {
		final["energyprofiler"] = energyOf(id, sum)
		send(final)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

// finishReason is "length" when the run used every token it was allowed,
// else "stop" (an end-of-sequence token, or the model's context).
func finishReason(s *profiler.Summary, max int) string {
	if s.OutputTokens >= max {
		return "length"
	}
	return "stop"
}

func usage(s *profiler.Summary) map[string]any {
	return map[string]any{"prompt_tokens": s.InputTokens, "completion_tokens": s.OutputTokens, "total_tokens": s.InputTokens + s.OutputTokens}
}

// energyOf is the measured energy that rides beside the usage.
func energyOf(id string, s *profiler.Summary) map[string]any {
	return map[string]any{"run_id": id, "total_energy_j": s.TotalEnergyJ.Value, "joules_per_token": s.JoulesPerToken.Value,
		"joules_per_output_token": s.JoulesPerOutputToken.Value, "energy_label": s.TotalEnergyJ.Label}
}
