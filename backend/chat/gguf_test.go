package chat

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"energyprofiler/backend/modelstore/storetest"
	"energyprofiler/backend/tokenizer"
)

func TestLoadGGUF(t *testing.T) {
	dir := t.TempDir()
	tpl := "{{ bos_token }}<u>{{ messages[0].content }}{{ eos_token }}{% if add_generation_prompt %}<a>{% endif %}"
	with := filepath.Join(dir, "chat.gguf")
	storetest.GGUF(t, with, tpl)
	got, err := LoadForModel(with)
	if err != nil {
		t.Fatal(err)
	}
	text, err := got.Render("hi", day)
	if want := tokenizer.DemoBOS + "<u>hi" + tokenizer.DemoEOS + "<a>"; err != nil || text != want || got.Origin != "GGUF tokenizer.chat_template" {
		t.Errorf("rendered %q (%v) from %q, want %q: bos/eos from tokenizer.ggml.*_token_id", text, err, got.Origin, want)
	}

	// ollama keeps GGUF files without the extension.
	blob := filepath.Join(dir, "sha256-0123")
	if err := os.Rename(with, blob); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadForModel(blob); err != nil {
		t.Errorf("a GGUF blob without the extension: %v", err)
	}

	without := filepath.Join(dir, "base.gguf")
	storetest.GGUF(t, without, "")
	if _, err := LoadForModel(without); !errors.Is(err, ErrNoTemplate) {
		t.Errorf("a GGUF without a template: %v", err)
	}
}
