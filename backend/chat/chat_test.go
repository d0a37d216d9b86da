package chat

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// day is what strftime_now sees in these tests.
var day = time.Date(2025, time.March, 7, 14, 5, 9, 0, time.UTC)

func loadTestTemplate(t *testing.T, name, bos, eos string) *Template {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "templates", name+".jinja"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := New(string(text), name, bos, eos)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return tpl
}

// The expected strings are each model card's prompt format for one user
// turn followed by the assistant's header, written out by hand.
func TestRealTemplates(t *testing.T) {
	const q = "What is 2+2?"
	cases := []struct {
		name, bos, eos string
		prompt         string
		want           string
	}{
		{"llama-3", "<|begin_of_text|>", "<|eot_id|>", q,
			"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
		// Llama 3 trims the message.
		{"llama-3", "<|begin_of_text|>", "<|eot_id|>", "  What is 2+2? \n",
			"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
		// Llama 3.2 writes a system header with today's date (strftime_now).
		{"llama-3.2", "<|begin_of_text|>", "<|eot_id|>", q,
			"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 07 Mar 2025\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
		// Qwen 2.5 adds its default system prompt.
		{"qwen2.5", "", "<|im_end|>", q,
			"<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"},
		// ChatML keeps the message as it is.
		{"qwen2.5", "", "<|im_end|>", " hi \n",
			"<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\n hi \n<|im_end|>\n<|im_start|>assistant\n"},
		{"qwen3", "", "<|im_end|>", q,
			"<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"},
		{"mistral-v0.2", "<s>", "</s>", q, "<s>[INST] What is 2+2? [/INST]"},
		{"mistral-v0.3", "<s>", "</s>", q, "<s>[INST] What is 2+2?[/INST]"},
		{"phi-3", "<s>", "<|endoftext|>", q, "<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n"},
		{"gemma-2", "<bos>", "<eos>", q, "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n"},
		{"gemma-2", "<bos>", "<eos>", "\tWhat is 2+2?  ", "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n"},
		{"gemma-3", "<bos>", "<eos>", q, "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := loadTestTemplate(t, c.name, c.bos, c.eos).Render(c.prompt, day)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("rendered\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}

func TestEndOfTurn(t *testing.T) {
	cases := []struct {
		name, eos string
		want      []string
	}{
		{"llama-3", "<|end_of_text|>", []string{"<|end_of_text|>", "<|eot_id|>"}},
		{"llama-3.2", "<|eot_id|>", []string{"<|eot_id|>"}},
		{"qwen2.5", "<|im_end|>", []string{"<|im_end|>"}},
		{"qwen3", "<|im_end|>", []string{"<|im_end|>"}},
		{"phi-3", "<|endoftext|>", []string{"<|endoftext|>", "<|end|>"}},
		{"gemma-3", "<eos>", []string{"<eos>", "<end_of_turn>"}},
		{"mistral-v0.2", "</s>", []string{"</s>"}},
	}
	for _, c := range cases {
		got := loadTestTemplate(t, c.name, "", c.eos).EndOfTurn()
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: end of turn %q, want %q", c.name, got, c.want)
		}
	}
}

func TestStrftime(t *testing.T) {
	// Python: datetime(2025, 3, 7, 14, 5, 9).strftime(f)
	cases := map[string]string{
		"%d %b %Y":          "07 Mar 2025",
		"%Y-%m-%d":          "2025-03-07",
		"%A, %B %d":         "Friday, March 07",
		"%H:%M:%S %p %I %y": "14:05:09 PM 02 25",
		"%j %w %% %Q":       "066 5 % %Q",
	}
	for f, want := range cases {
		if got := Strftime(day, f); got != want {
			t.Errorf("Strftime(%q) = %q, want %q", f, got, want)
		}
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoad(t *testing.T) {
	const simple = `{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}`
	cases := []struct {
		name   string
		files  map[string]string
		want   string
		origin string
		err    string
	}{
		{name: "string form",
			files: map[string]string{"tokenizer_config.json": `{"bos_token": "<s>", "eos_token": "</s>", "chat_template": "` + strings.ReplaceAll(simple, `"`, `\"`) + `"}`},
			want:  "<s><user>hi</s><assistant>", origin: "tokenizer_config.json"},
		{name: "AddedToken objects and a list of named templates",
			files: map[string]string{"tokenizer_config.json": `{"bos_token": {"__type": "AddedToken", "content": "<bos>"}, "eos_token": {"content": "<eos>"},
				"chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "` + simple + `"}]}`},
			want: "<bos><user>hi<eos><assistant>", origin: `tokenizer_config.json (the "default" template)`},
		{name: "chat_template.jinja wins over tokenizer_config.json",
			files: map[string]string{"tokenizer_config.json": `{"bos_token": null, "eos_token": "E", "chat_template": "old"}`, "chat_template.jinja": simple},
			want:  "<user>hiE<assistant>", origin: "chat_template.jinja"},
		{name: "processor chat_template.json",
			files: map[string]string{"chat_template.json": `{"chat_template": "[{{ messages[0].content }}]"}`},
			want:  "[hi]", origin: "chat_template.json"},
		{name: "no template", files: map[string]string{"tokenizer_config.json": `{"eos_token": "</s>"}`}, err: "no chat template"},
		{name: "no tokenizer_config.json at all", files: map[string]string{}, err: "no chat template"},
		{name: "list without default", files: map[string]string{"tokenizer_config.json": `{"chat_template": [{"name": "rag", "template": "x"}]}`}, err: `none named "default"`},
		{name: "not JSON", files: map[string]string{"tokenizer_config.json": `{"chat_template": `}, err: "not valid JSON"},
		{name: "a number", files: map[string]string{"tokenizer_config.json": `{"chat_template": 7}`}, err: "neither a string nor a list"},
		{name: "does not parse", files: map[string]string{"chat_template.jinja": "{% for m in messages %}"}, err: "does not parse"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tpl, err := Load(writeFiles(t, c.files))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.Render("hi", day)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want || tpl.Origin != c.origin {
				t.Errorf("rendered %q from %q, want %q from %q", got, tpl.Origin, c.want, c.origin)
			}
		})
	}
	if _, err := Load(writeFiles(t, nil)); !errors.Is(err, ErrNoTemplate) {
		t.Errorf("a folder without a template: %v, want ErrNoTemplate", err)
	}
}

// Templates are the user's files, but a broken or hostile one must end in
// an error, never a crash, a hang or an unbounded allocation.
func TestHostileTemplates(t *testing.T) {
	cases := map[string]string{
		"refusal":         `{{ raise_exception("System role not supported") }}`,
		"huge range":      `{% for i in range(1000000000) %}x{% endfor %}`,
		"endless macro":   `{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}`,
		"trimmed macro":   "{%- macro g(n) -%}\n  {{ g(n) }}\n{%- endmacro -%}{{ g(1) }}",
		"renders nothing": `{% if false %}x{% endif %}`,
		"bad strftime":    `{{ strftime_now() }}`,
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			tpl, err := New(src, "test", "", "")
			if err != nil {
				t.Fatal(err)
			}
			if out, err := tpl.Render("hi", day); err == nil {
				t.Fatalf("rendered %.40q without an error", out)
			}
		})
	}
	if _, err := New(strings.Repeat("x", MaxTemplateBytes+1), "test", "", ""); err == nil {
		t.Error("an oversized template was accepted")
	}
	if _, err := New(" \n", "test", "", ""); !errors.Is(err, ErrNoTemplate) {
		t.Errorf("an empty template: %v", err)
	}
}

// A macro guard must not change what a template renders.
func TestMacrosStillRender(t *testing.T) {
	src := "{%- macro item(x) -%}\n  [{{ x }}]\n{%- endmacro -%}\n{% macro twice(x) %}\n{{ item(x) }}{{ item(x) }}\n{% endmacro %}\n{{ twice(messages[0].content) }}"
	tpl, err := New(src, "test", "", "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render("a", day)
	if err != nil {
		t.Fatal(err)
	}
	// jinja2 with trim_blocks and lstrip_blocks renders "[a][a]\n".
	if got != "[a][a]\n" {
		t.Errorf("got %q", got)
	}
}

// A whole conversation: the expected strings are the model cards' prompt
// formats for a system turn, a user turn, the assistant's answer and a
// second user turn, then the assistant's header, written out by hand.
func TestRenderMessagesMultiTurn(t *testing.T) {
	conv := []Message{
		{Role: "system", Content: "Be brief."},
		{Role: "user", Content: "What is 2+2?"},
		{Role: "assistant", Content: "4"},
		{Role: "user", Content: "And 3+3?"},
	}
	cases := []struct{ name, bos, eos, want string }{
		{"llama-3", "<|begin_of_text|>", "<|eot_id|>",
			"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
				"<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>" +
				"<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\n"},
		// Qwen 2.5 uses the given system message instead of its default.
		{"qwen2.5", "", "<|im_end|>",
			"<|im_start|>system\nBe brief.<|im_end|>\n" +
				"<|im_start|>user\nWhat is 2+2?<|im_end|>\n" +
				"<|im_start|>assistant\n4<|im_end|>\n" +
				"<|im_start|>user\nAnd 3+3?<|im_end|>\n" +
				"<|im_start|>assistant\n"},
	}
	for _, c := range cases {
		tpl := loadTestTemplate(t, c.name, c.bos, c.eos)
		got, err := tpl.RenderMessages(conv, day)
		if err != nil || got != c.want {
			t.Errorf("%s: got %q (%v)\nwant %q", c.name, got, err, c.want)
		}
	}
	if _, err := loadTestTemplate(t, "llama-3", "", "").RenderMessages(nil, day); err == nil {
		t.Error("an empty conversation rendered")
	}
}

func TestPlainFallback(t *testing.T) {
	got := Plain([]Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello"}, {Role: "user", Content: "Bye"}})
	want := "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello\n\nUser: Bye\n\nAssistant:"
	if got != want {
		t.Errorf("Plain = %q, want %q", got, want)
	}
}
