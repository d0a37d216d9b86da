package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"energyprofiler/backend/tokenizer"
)

func TestGenerateChat(t *testing.T) {
	dir := tinyDemo(t)
	code, _, errOut := runCLI("generate", "--model", dir, "--prompt", "hi", "--chat", "--max-tokens", "2", "--json")
	if code != 1 || !strings.Contains(errOut, "no chat template") {
		t.Fatalf("--chat without a template: exit %d, %s", code, errOut)
	}
	if code, _, _ := runCLI("generate", "--model", dir, "--ids", "1,2", "--chat"); code != 2 {
		t.Errorf("--chat with --ids: exit %d, want a usage error", code)
	}

	cfg := `{"bos_token": "` + tokenizer.DemoBOS + `", "eos_token": "` + tokenizer.DemoEOS + `",
		"chat_template": [{"name": "default", "template": "{{ bos_token }}<user>{{ messages[0]['content'] }}{{ eos_token }}{% if add_generation_prompt %}<assistant>{% endif %}"}]}`
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("generate", "--model", dir, "--prompt", "hi", "--chat", "--max-tokens", "2", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r generateReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	want := tokenizer.DemoBOS + "<user>hi" + tokenizer.DemoEOS + "<assistant>"
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.RenderedPrompt != want || len(r.PromptIDs) != len(tok.Encode(want, false)) {
		t.Errorf("rendered %q with %d ids; want %q with %d (no BOS added to the template's)", r.RenderedPrompt, len(r.PromptIDs), want, len(tok.Encode(want, false)))
	}
}

func TestProfileChatStoresBothPrompts(t *testing.T) {
	modelDir := profTestModel(t)
	db := filepath.Join(t.TempDir(), "p.db")
	trace := profReplay(t, 10)
	args := []string{"profile", "--model", modelDir, "--prompt", "Hello", "--chat", "--max-tokens", "2", "--power", "replay:" + trace, "--interval", "10ms", "--idle", "0", "--db", db, "--json"}
	if code, _, errOut := profCLI(t, args...); code != 1 || !strings.Contains(errOut, "no chat template") {
		t.Fatalf("--chat without a template: exit %d: %s", code, errOut)
	}
	cfg := `{"eos_token": "` + tokenizer.DemoEOS + `", "chat_template": "<user>{{ messages[0].content }}</user><bot>"}`
	if err := os.WriteFile(filepath.Join(modelDir, "tokenizer_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := profCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var s summaryJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = profCLI(t, "show", s.RunID, "--db", db)
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "Prompt: Hello\n") || !strings.Contains(out, "Chat prompt (template from tokenizer_config.json): <user>Hello</user><bot>") {
		t.Errorf("show does not give both prompts:\n%s", out)
	}
}
