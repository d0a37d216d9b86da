// Package chat formats a prompt the way an instruct model was trained to
// read it: as one user message, or a whole conversation (RenderMessages),
// rendered by the model's own chat template
// (the Jinja template in tokenizer_config.json, chat_template.jinja or a
// GGUF file's tokenizer.chat_template), with add_generation_prompt on, so
// the text ends where the assistant's answer begins. It also names the
// tokens that end the assistant's turn, where generation should stop.
//
// Templates are rendered by github.com/ardanlabs/jinja, a Jinja engine
// written for chat templates and checked byte for byte against Python's
// jinja2. The render context is the one transformers' apply_chat_template
// gives: messages, add_generation_prompt, bos_token, eos_token,
// raise_exception and strftime_now, in a sandbox whose range() is bounded
// as jinja2's sandbox bounds it. A model without a template can only get
// Plain, a documented role-prefixed fallback.
package chat

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ardanlabs/jinja"
)

// ErrNoTemplate is wrapped when a model has no chat template.
var ErrNoTemplate = errors.New("the model has no chat template")

// Limits on what a template may be or do.
const (
	// MaxTemplateBytes bounds a template's source; real ones are under
	// 30 KB.
	MaxTemplateBytes = 1 << 20
	// maxRange is jinja2's sandbox MAX_RANGE: range() refuses to make
	// more items than this.
	maxRange = 100_000
	// maxRenderedBytes bounds what one render may produce.
	maxRenderedBytes = 4 << 20
	// renderTimeout ends a render that loops for too long (a template is
	// the user's own file, but a hang must never be what they get).
	renderTimeout = 5 * time.Second
	// maxMacroCalls bounds macro calls in one render. Real templates call
	// a few macros per tool; a macro recursing without end would otherwise
	// overflow the goroutine stack, which kills the process.
	maxMacroCalls = 10_000
)

// macroGuard is the callable every macro body starts by calling.
const macroGuard = "__energyprofiler_macro_guard"

// macroTag matches a {% macro ... %} tag; group 1 is the right whitespace
// control of its closing delimiter.
var macroTag = regexp.MustCompile(`(?s)\{%[-+]?\s*macro\s.*?([-+]?)%\}`)

// guardMacros makes each macro body start with a call to macroGuard. The
// call is a block tag that prints nothing and carries the macro tag's own
// right whitespace control, so trim_blocks and "-%}" act as they did.
func guardMacros(text string) string {
	return macroTag.ReplaceAllStringFunc(text, func(tag string) string {
		m := macroTag.FindStringSubmatch(tag)
		return tag + "{% if " + macroGuard + "() %}{% endif " + m[1] + "%}"
	})
}

// Template is a model's chat template, compiled.
type Template struct {
	// Text is the Jinja source; Origin says where it was found
	// ("tokenizer_config.json", "GGUF tokenizer.chat_template", ...).
	Text   string
	Origin string
	// BOS and EOS are the bos_token and eos_token strings the template
	// sees ("" when the model has none).
	BOS, EOS string

	compiled *jinja.Template
}

// New compiles a template. origin says where text came from, for errors.
func New(text, origin, bos, eos string) (*Template, error) {
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("%w: the chat template in %s is empty", ErrNoTemplate, origin)
	}
	if len(text) > MaxTemplateBytes {
		return nil, fmt.Errorf("the chat template in %s is %d bytes, more than the %d a template may be", origin, len(text), MaxTemplateBytes)
	}
	c, err := jinja.Compile(guardMacros(text))
	if err != nil {
		return nil, fmt.Errorf("the chat template in %s does not parse: %w", origin, err)
	}
	return &Template{Text: text, Origin: origin, BOS: bos, EOS: eos, compiled: c}, nil
}

// Message is one turn of a conversation: a role (system, developer, user,
// assistant or tool) and its text.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Render formats prompt as a conversation of one user message, with the
// generation prompt appended; now is what strftime_now reports (templates
// such as Llama 3.1's print today's date).
func (t *Template) Render(prompt string, now time.Time) (string, error) {
	return t.RenderMessages([]Message{{Role: "user", Content: prompt}}, now)
}

// RenderMessages formats a whole conversation (system, user and assistant
// turns, in order) as transformers' apply_chat_template(messages,
// add_generation_prompt=True) does: the text ends where the next
// assistant turn begins.
func (t *Template) RenderMessages(messages []Message, now time.Time) (string, error) {
	if len(messages) == 0 {
		return "", errors.New("a conversation needs at least one message")
	}
	list := make([]jinja.Value, len(messages))
	for i, m := range messages {
		message := jinja.NewDict()
		message.AsDict().Set("role", jinja.NewString(m.Role))
		message.AsDict().Set("content", jinja.NewString(m.Content))
		list[i] = message
	}
	data := map[string]jinja.Value{
		"messages":              jinja.NewList(list),
		"add_generation_prompt": jinja.NewBool(true),
		"bos_token":             jinja.NewString(t.BOS),
		"eos_token":             jinja.NewString(t.EOS),
		"strftime_now": jinja.NewCallable("strftime_now", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			if len(args) != 1 || !args[0].IsString() {
				return jinja.Undefined(), errors.New("strftime_now takes one format string")
			}
			return jinja.NewString(Strftime(now, args[0].AsString())), nil
		}),
		"raise_exception": jinja.NewCallable("raise_exception", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			msg := "raise_exception called"
			if len(args) > 0 && args[0].IsString() {
				msg = args[0].AsString()
			}
			return jinja.Undefined(), fmt.Errorf("the template refused the conversation: %s", msg)
		}),
		"range": jinja.NewCallable("range", boundedRange),
	}
	calls := 0
	data[macroGuard] = jinja.NewCallable(macroGuard, func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
		if calls++; calls > maxMacroCalls {
			return jinja.Undefined(), fmt.Errorf("more than %d macro calls: a macro that calls itself without end?", maxMacroCalls)
		}
		return jinja.NewBool(false), nil
	})

	type result struct {
		text string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("the template engine failed: %v", r)}
			}
		}()
		text, err := t.compiled.RenderValues(data)
		done <- result{text, err}
	}()
	select {
	case r := <-done:
		switch {
		case r.err != nil:
			return "", fmt.Errorf("render the chat template from %s: %w", t.Origin, r.err)
		case len(r.text) > maxRenderedBytes:
			return "", fmt.Errorf("the chat template from %s rendered %d bytes, more than %d", t.Origin, len(r.text), maxRenderedBytes)
		case r.text == "":
			return "", fmt.Errorf("the chat template from %s rendered nothing for the conversation", t.Origin)
		}
		return r.text, nil
	case <-time.After(renderTimeout):
		return "", fmt.Errorf("the chat template from %s did not finish rendering in %s", t.Origin, renderTimeout)
	}
}

// boundedRange is Python's range() with jinja2's sandbox limit.
func boundedRange(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	var start, stop, step int64 = 0, 0, 1
	ints := make([]int64, len(args))
	for i, a := range args {
		if !a.IsInt() {
			return jinja.Undefined(), errors.New("range: arguments must be integers")
		}
		ints[i] = a.AsInt()
	}
	switch len(ints) {
	case 1:
		stop = ints[0]
	case 2:
		start, stop = ints[0], ints[1]
	case 3:
		start, stop, step = ints[0], ints[1], ints[2]
	default:
		return jinja.Undefined(), fmt.Errorf("range: expected 1 to 3 arguments, got %d", len(args))
	}
	if step == 0 {
		return jinja.Undefined(), errors.New("range: step must not be zero")
	}
	var n int64
	if step > 0 && stop > start {
		n = (stop - start + step - 1) / step
	} else if step < 0 && stop < start {
		n = (start - stop - step - 1) / -step
	}
	if n > maxRange {
		return jinja.Undefined(), fmt.Errorf("range: %d items is more than the %d a template may make", n, maxRange)
	}
	items := make([]jinja.Value, 0, n)
	for i := int64(0); i < n; i++ {
		items = append(items, jinja.NewInt(start+i*step))
	}
	return jinja.NewList(items), nil
}

// PlainRoles are the roles Plain (and a chat request) accepts.
var PlainRoles = []string{"system", "developer", "user", "assistant", "tool"}

// Plain is the fallback format for a model without a chat template (a base
// model, or a demo model): each message on its own paragraph as
// "Role: text" ("System: …", "User: …", "Assistant: …"), then
// "Assistant:" where the answer begins. It is a plain-text convention, not
// the model's trained format, and generation stops only at the model's
// end-of-sequence token; callers record that it was used.
func Plain(messages []Message) string {
	var b strings.Builder
	for _, m := range messages {
		role := m.Role
		if role != "" {
			role = strings.ToUpper(role[:1]) + role[1:]
		}
		fmt.Fprintf(&b, "%s: %s\n\n", role, m.Content)
	}
	b.WriteString("Assistant:")
	return b.String()
}

// PlainOrigin is what a run records as its chat format when Plain was used.
const PlainOrigin = "plain fallback (the model has no chat template): \"Role: text\" paragraphs, then \"Assistant:\""

// endOfTurnMarkers are the tokens the common template families close an
// assistant turn with. Only those a template writes count for it.
var endOfTurnMarkers = []string{
	"<|eot_id|>",            // Llama 3
	"<|eom_id|>",            // Llama 3.1 tool turns
	"<|im_end|>",            // ChatML: Qwen, SmolLM, ...
	"<end_of_turn>",         // Gemma
	"<|end|>",               // Phi-3
	"<|END_OF_TURN_TOKEN|>", // Command R
	"<|end_of_turn|>",       // OpenChat
	"<｜end▁of▁sentence｜>",   // DeepSeek
	"<|endoftext|>",         // Phi, Qwen base
	"</s>",                  // Llama 2, Mistral
	"<|end_of_text|>",       // Llama 3 base
	"<|return|>",            // gpt-oss
}

// EndOfTurn returns the token strings that end the assistant's turn: the
// eos_token, and every known end-of-turn marker the template writes. The
// caller keeps those its vocabulary holds as single tokens.
func (t *Template) EndOfTurn() []string {
	var out []string
	if t.EOS != "" {
		out = append(out, t.EOS)
	}
	for _, m := range endOfTurnMarkers {
		if strings.Contains(t.Text, m) && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}
