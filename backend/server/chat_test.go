package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"energyprofiler/backend/tokenizer"
)

// TestChatOverTheAPI: "chat": true formats the prompt with the model's
// template, the run detail keeps the raw and the rendered prompt, and a
// model without a template is refused at submission with the reason.
func TestChatOverTheAPI(t *testing.T) {
	srv, url := start(t)
	var refusal map[string]any
	code := call(t, "POST", url+"/api/profiling/generate", `{"model_name":"tiny","prompt":"hi","max_length":2,"idle_s":0,"chat":true,"wait":true}`, &refusal)
	if code != 400 || !strings.Contains(refusal["detail"].(string), "no chat template") {
		t.Fatalf("chat without a template: %d %v", code, refusal)
	}

	cfg := `{"bos_token": "` + tokenizer.DemoBOS + `", "eos_token": "` + tokenizer.DemoEOS + `", "chat_template": "{{ bos_token }}[user] {{ messages[0].content }}{% if add_generation_prompt %} [assistant]{% endif %}"}`
	if err := os.WriteFile(filepath.Join(srv.Config.ModelsDir, "tiny", "tokenizer_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var sum map[string]any
	if code := call(t, "POST", url+"/api/profiling/generate", `{"model_name":"tiny","prompt":"energy?","max_length":3,"idle_s":0,"chat":true,"wait":true}`, &sum); code != 200 {
		t.Fatalf("chat run: %d %v", code, sum)
	}
	var detail struct {
		Run struct {
			Prompt   string `json:"prompt"`
			Settings struct {
				Chat struct {
					Template       string   `json:"template"`
					RenderedPrompt string   `json:"rendered_prompt"`
					StopTokens     []string `json:"stop_tokens"`
				} `json:"chat"`
			} `json:"settings"`
		} `json:"run"`
	}
	if code := call(t, "GET", url+"/api/profiling/run/"+sum["run_id"].(string), "", &detail); code != 200 {
		t.Fatalf("detail: %d", code)
	}
	c := detail.Run.Settings.Chat
	if detail.Run.Prompt != "energy?" || c.RenderedPrompt != tokenizer.DemoBOS+"[user] energy? [assistant]" || c.Template != "tokenizer_config.json" || len(c.StopTokens) != 1 {
		t.Errorf("stored run: prompt %q, chat %+v", detail.Run.Prompt, c)
	}
}
