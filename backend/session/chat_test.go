package session

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/chat"
	"energyprofiler/backend/tokenizer"
)

// withChatTemplate gives a demo-format model a tokenizer_config.json whose
// template closes turns with the demo tokenizer's EOS token.
func withChatTemplate(t *testing.T, path string) {
	t.Helper()
	cfg := `{"bos_token": "` + tokenizer.DemoBOS + `", "eos_token": "` + tokenizer.DemoEOS + `",
	"chat_template": "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content | trim }}{{ eos_token }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"}`
	if err := os.WriteFile(filepath.Join(path, "tokenizer_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestChatRun(t *testing.T) {
	rec := &settingsRecorder{}
	s, err := New(t.Context(), Options{PowerSpec: "replay:" + constantPower(t), SampleInterval: 10 * time.Millisecond, Threads: 1, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	path := tinyModel(t)

	// Without a template, chat is refused with a reason, before any run.
	_, err = s.Profile(t.Context(), Request{ModelPath: path, Prompt: "hi", MaxTokens: 2, Idle: -1, Chat: true}, nil)
	if !errors.Is(err, ErrChat) || !errors.Is(err, chat.ErrNoTemplate) || !strings.Contains(err.Error(), "no chat template") {
		t.Fatalf("chat on a model without a template: %v", err)
	}
	if err := s.CheckPrompt(path, "hi", true); !errors.Is(err, ErrChat) {
		t.Errorf("CheckPrompt of a chat without a template: %v", err)
	}
	if err := s.CheckPrompt(path, "hi", false); err != nil {
		t.Errorf("CheckPrompt of a plain prompt: %v", err)
	}

	chatPath := tinyModel(t)
	withChatTemplate(t, chatPath)
	if err := s.CheckPrompt(chatPath, "hi", true); err != nil {
		t.Fatalf("CheckPrompt of a chat with a template: %v", err)
	}
	res, err := s.Profile(t.Context(), Request{ModelPath: chatPath, Prompt: " What is 2+2? ", MaxTokens: 40, Idle: -1, Chat: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	settings := rec.settings[len(rec.settings)-1]
	c := settings.Chat
	want := tokenizer.DemoBOS + "user: What is 2+2?" + tokenizer.DemoEOS + "\nassistant:"
	if c == nil || c.RenderedPrompt != want || c.Template != "tokenizer_config.json" || !slices.Equal(c.StopTokens, []string{tokenizer.DemoEOS}) {
		t.Fatalf("chat settings %+v, want the rendered prompt %q", c, want)
	}
	// The template wrote BOS; no second one is added.
	tok, err := tokenizer.Load(filepath.Join(chatPath, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tok.Encode(want, false)); res.Summary.InputTokens != n || len(tok.Encode(want, true)) != n+1 {
		t.Errorf("input tokens %d, want %d (the rendered text, no BOS added)", res.Summary.InputTokens, n)
	}
	// A plain run of the same model records no chat.
	if _, err := s.Profile(t.Context(), Request{ModelPath: chatPath, Prompt: "hi", MaxTokens: 1, Idle: -1}, nil); err != nil {
		t.Fatal(err)
	}
	if c := rec.settings[len(rec.settings)-1].Chat; c != nil {
		t.Errorf("a plain run recorded chat settings %+v", c)
	}
}
