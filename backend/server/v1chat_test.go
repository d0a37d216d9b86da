package server

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"energyprofiler/backend/chat"
	"energyprofiler/backend/demo"
	"energyprofiler/backend/tokenizer"
)

// v1Conversation is a multi-turn /v1 chat request: a system turn, a user
// turn, the assistant's answer and a second user turn.
const v1Conversation = `{"model":"%s","max_tokens":3,"idle_s":0,"messages":[
	{"role":"system","content":"Be brief."},
	{"role":"user","content":"What is 2+2?"},
	{"role":"assistant","content":"4"},
	{"role":"user","content":[{"type":"text","text":"And 3+3?"}]}]}`

type chatSettings struct {
	Template       string   `json:"template"`
	RenderedPrompt string   `json:"rendered_prompt"`
	StopTokens     []string `json:"stop_tokens"`
}

// v1ChatRun posts the conversation and returns the stored run's chat
// settings.
func v1ChatRun(t *testing.T, url, model string) chatSettings {
	t.Helper()
	var out struct {
		Energy struct {
			RunID string `json:"run_id"`
		} `json:"energyprofiler"`
	}
	if code := call(t, "POST", url+"/v1/chat/completions", fmt.Sprintf(v1Conversation, model), &out); code != 200 || out.Energy.RunID == "" {
		t.Fatalf("chat completion: %d %+v", code, out)
	}
	var detail struct {
		Run struct {
			Settings struct {
				Chat *chatSettings `json:"chat"`
			} `json:"settings"`
		} `json:"run"`
	}
	if code := call(t, "GET", url+"/api/profiling/run/"+out.Energy.RunID, "", &detail); code != 200 || detail.Run.Settings.Chat == nil {
		t.Fatalf("run %s: %d, chat settings %+v", out.Energy.RunID, code, detail.Run.Settings.Chat)
	}
	return *detail.Run.Settings.Chat
}

// TestV1ChatRendersTheWholeConversation: /v1/chat/completions renders every
// message with the model's own template (a verbatim copy of Llama 3's, from
// backend/chat/testdata), with the generation prompt and the template's
// end-of-turn stops; a model without a template gets the documented plain
// fallback, recorded as such.
func TestV1ChatRendersTheWholeConversation(t *testing.T) {
	srv, url := start(t)

	plain := v1ChatRun(t, url, "tiny")
	wantPlain := "System: Be brief.\n\nUser: What is 2+2?\n\nAssistant: 4\n\nUser: And 3+3?\n\nAssistant:"
	if plain.Template != chat.PlainOrigin || plain.RenderedPrompt != wantPlain || len(plain.StopTokens) != 0 {
		t.Errorf("no template: %+v, want the plain fallback %q", plain, wantPlain)
	}

	// A second model with a template (a loaded model keeps the template
	// it was loaded with).
	llama, err := demo.WriteSpec(srv.Config.ModelsDir, demo.Spec{Name: "llama", Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHead: 2, Vocab: 1100})
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := os.ReadFile(filepath.Join("..", "chat", "testdata", "templates", "llama-3.jinja"))
	if err != nil {
		t.Fatal(err)
	}
	// The demo tokenizer's BOS is Llama 3's; its EOS (<|end_of_text|>) is
	// the end-of-turn token its vocabulary holds (<|eot_id|> it lacks).
	cfg, _ := json.Marshal(map[string]string{"bos_token": tokenizer.DemoBOS, "eos_token": tokenizer.DemoEOS, "chat_template": string(tpl)})
	if err := os.WriteFile(filepath.Join(llama, "tokenizer_config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	got := v1ChatRun(t, url, "llama")
	// Llama 3's prompt format, written out by hand from its model card.
	want := "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
		"<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>" +
		"<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>" +
		"<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>" +
		"<|start_header_id|>assistant<|end_header_id|>\n\n"
	if got.RenderedPrompt != want || got.Template != "tokenizer_config.json" || !slices.Equal(got.StopTokens, []string{tokenizer.DemoEOS}) {
		t.Errorf("with Llama 3's template: %+v\nwant rendered %q", got, want)
	}

	// A template that refuses the conversation is a 400 before any run.
	strict, err := demo.WriteSpec(srv.Config.ModelsDir, demo.Spec{Name: "strict", Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHead: 2, Vocab: 1100})
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := json.Marshal(map[string]string{"chat_template": "{{ raise_exception('roles must alternate') }}"})
	if err := os.WriteFile(filepath.Join(strict, "tokenizer_config.json"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	var refusal map[string]any
	if code := call(t, "POST", url+"/v1/chat/completions", fmt.Sprintf(v1Conversation, "strict"), &refusal); code != 400 {
		t.Errorf("a refusing template: %d %v", code, refusal)
	}
}
