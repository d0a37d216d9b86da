package chat

import (
	"fmt"
	"path/filepath"

	"energyprofiler/backend/model"
)

// LoadForModel reads the chat template of a model: a GGUF file's own
// (LoadGGUF), else the Hugging Face folder's (Load).
func LoadForModel(path string) (*Template, error) {
	if model.IsGGUF(path) {
		return LoadGGUF(path)
	}
	return Load(path)
}

// LoadGGUF reads the template a GGUF file carries in
// tokenizer.chat_template (what llama.cpp's converter copies from
// tokenizer_config.json), with the BOS and EOS tokens named by
// tokenizer.ggml.bos_token_id and eos_token_id.
func LoadGGUF(path string) (*Template, error) {
	g, _, release, err := model.ReadGGUF(path)
	if err != nil {
		return nil, err
	}
	defer release()
	text, ok := g.String("tokenizer.chat_template")
	if !ok {
		return nil, fmt.Errorf("%w: %s has no tokenizer.chat_template (a base model, not an instruct one?); leave chat off or use the instruct version", ErrNoTemplate, filepath.Base(path))
	}
	tokens, _ := g.Strings("tokenizer.ggml.tokens")
	token := func(key string) string {
		id, ok, err := g.Int(key)
		if err != nil || !ok || id < 0 || id >= int64(len(tokens)) {
			return ""
		}
		return tokens[id]
	}
	return New(text, "GGUF tokenizer.chat_template", token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id"))
}
