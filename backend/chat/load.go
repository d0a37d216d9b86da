package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxConfigBytes caps tokenizer_config.json: it can list a thousand added
// tokens (Mistral v0.3) but is never near this.
const maxConfigBytes = 16 << 20

// Load reads the chat template of the Hugging Face model folder dir, where
// transformers keeps it: chat_template.jinja (what transformers 4.50+
// saves), else the "chat_template" key of tokenizer_config.json (a string,
// or a list of named templates of which "default" is used), else
// chat_template.json (processors). bos_token and eos_token come from
// tokenizer_config.json. A folder with none wraps ErrNoTemplate.
func Load(dir string) (*Template, error) {
	cfg, err := readTokenizerConfig(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return nil, err
	}
	bos, eos := tokenString(cfg.BOSToken), tokenString(cfg.EOSToken)

	jinjaPath := filepath.Join(dir, "chat_template.jinja")
	text, err := readCapped(jinjaPath, MaxTemplateBytes)
	switch {
	case err == nil:
		return New(string(text), "chat_template.jinja", bos, eos)
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}

	if len(cfg.ChatTemplate) > 0 && string(cfg.ChatTemplate) != "null" {
		text, name, err := pickTemplate(cfg.ChatTemplate)
		if err != nil {
			return nil, fmt.Errorf("%s: chat_template: %w", filepath.Join(dir, "tokenizer_config.json"), err)
		}
		origin := "tokenizer_config.json"
		if name != "" {
			origin += fmt.Sprintf(" (the %q template)", name)
		}
		return New(text, origin, bos, eos)
	}

	procPath := filepath.Join(dir, "chat_template.json")
	data, err := readCapped(procPath, maxConfigBytes)
	switch {
	case err == nil:
		var proc struct {
			ChatTemplate json.RawMessage `json:"chat_template"`
		}
		if err := json.Unmarshal(data, &proc); err != nil {
			return nil, fmt.Errorf("%s: %w", procPath, err)
		}
		text, _, err := pickTemplate(proc.ChatTemplate)
		if err != nil {
			return nil, fmt.Errorf("%s: chat_template: %w", procPath, err)
		}
		return New(text, "chat_template.json", bos, eos)
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	return nil, fmt.Errorf("%w: %s has no chat_template.jinja and its tokenizer_config.json has no chat_template (a base model, not an instruct one?); leave chat off or use the instruct version", ErrNoTemplate, dir)
}

// tokenizerConfig is the part of tokenizer_config.json a chat needs.
type tokenizerConfig struct {
	ChatTemplate json.RawMessage `json:"chat_template"`
	BOSToken     json.RawMessage `json:"bos_token"`
	EOSToken     json.RawMessage `json:"eos_token"`
}

// readTokenizerConfig reads path; a missing file is an empty config.
func readTokenizerConfig(path string) (tokenizerConfig, error) {
	var cfg tokenizerConfig
	data, err := readCapped(path, maxConfigBytes)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("%s is not valid JSON: %w", path, err)
	}
	return cfg, nil
}

// pickTemplate reads a chat_template value: a string, or a list of
// {"name", "template"} of which transformers uses "default" when no name is
// asked for. name is the chosen entry's name ("" for the string form).
func pickTemplate(raw json.RawMessage) (text, name string, err error) {
	if err := json.Unmarshal(raw, &text); err == nil {
		return text, "", nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &named); err != nil {
		return "", "", errors.New("neither a string nor a list of {\"name\", \"template\"} objects")
	}
	var names []string
	for _, n := range named {
		if n.Name == "default" {
			return n.Template, n.Name, nil
		}
		names = append(names, n.Name)
	}
	return "", "", fmt.Errorf("%w: the list of named templates (%s) has none named \"default\"", ErrNoTemplate, strings.Join(names, ", "))
}

// tokenString reads bos_token/eos_token: a string, an AddedToken object
// {"content": ...}, or null.
func tokenString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Content
	}
	return ""
}

// readCapped reads path if it holds at most limit bytes.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is more than %d bytes: not a tokenizer or template file", path, limit)
	}
	return data, nil
}
