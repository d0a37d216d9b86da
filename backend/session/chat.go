package session

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"energyprofiler/backend/chat"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/tokenizer"
)

// chatFormat is a model's chat template with the ids of its end-of-turn
// tokens in the model's vocabulary.
type chatFormat struct {
	tpl        *chat.Template
	stopIDs    []int
	stopTokens []string
}

// loadChat reads the chat template of the model at path. A model without
// one gets a nil format and the reason, which only a chat request reports.
func loadChat(path string, tok *tokenizer.Tokenizer) (*chatFormat, error) {
	tpl, err := chat.LoadForModel(path)
	if err != nil {
		return nil, err
	}
	f := &chatFormat{tpl: tpl}
	for _, s := range tpl.EndOfTurn() {
		if id, ok := tok.ID(s); ok {
			f.stopIDs = append(f.stopIDs, id)
			f.stopTokens = append(f.stopTokens, s)
		}
	}
	return f, nil
}

// render formats prompt with the template and says how, for the run's
// settings.
func (f *chatFormat) render(prompt string) (string, *profiler.ChatSettings, error) {
	text, err := f.tpl.Render(prompt, time.Now())
	if err != nil {
		return "", nil, err
	}
	return text, &profiler.ChatSettings{Template: f.tpl.Origin, RenderedPrompt: text, StopTokens: f.stopTokens}, nil
}

// renderMessages formats a conversation for the model: with its chat
// template (templated: the template wrote the special tokens), or, where
// the model has none, with chat.Plain, which the settings record. A
// template that is there but broken is an error, not a fallback.
func (lm *loadedModel) renderMessages(msgs []chat.Message) (prompt string, settings *profiler.ChatSettings, templated bool, err error) {
	if lm.chat == nil && lm.chatErr != nil && !errors.Is(lm.chatErr, chat.ErrNoTemplate) {
		return "", nil, false, lm.chatErr
	}
	return renderMessages(lm.chat, msgs)
}

func renderMessages(f *chatFormat, msgs []chat.Message) (string, *profiler.ChatSettings, bool, error) {
	if f == nil {
		text := chat.Plain(msgs)
		return text, &profiler.ChatSettings{Template: chat.PlainOrigin, RenderedPrompt: text, StopTokens: []string{}}, false, nil
	}
	text, err := f.tpl.RenderMessages(msgs, time.Now())
	if err != nil {
		return "", nil, false, err
	}
	return text, &profiler.ChatSettings{Template: f.tpl.Origin, RenderedPrompt: text, StopTokens: f.stopTokens}, true, nil
}

// ErrChat is wrapped by every refusal of a chat request: the model has no
// chat template (chat.ErrNoTemplate is wrapped too), or it does not render.
var ErrChat = errors.New("chat refused")

// chatError explains a chat request the model cannot serve.
func chatError(path string, err error) error {
	if errors.Is(err, chat.ErrNoTemplate) {
		return fmt.Errorf("%w: model %s cannot format a chat: %w", ErrChat, filepath.Base(path), err)
	}
	return fmt.Errorf("%w: model %s: chat template: %w", ErrChat, filepath.Base(path), err)
}
