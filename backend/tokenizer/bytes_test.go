package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Issue 12 item 12: a tokenizer.json whose vocab lacks some byte tokens
// silently dropped the text that needed them. Such a tokenizer is now
// refused when it is loaded, with the missing tokens named.
func TestMissingByteTokensAreAnError(t *testing.T) {
	data, err := BuildDemoByteLevel(64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(data); err != nil {
		t.Fatalf("the complete demo tokenizer: %v", err)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	vocab := f["model"].(map[string]any)["vocab"].(map[string]any)
	gone := string(byteToRune('~'))
	delete(vocab, gone)
	// Merges that use the removed piece would be refused first; drop them.
	var merges []any
	for _, m := range f["model"].(map[string]any)["merges"].([]any) {
		if !strings.Contains(fmt.Sprint(m), gone) {
			merges = append(merges, m)
		}
	}
	f["model"].(map[string]any)["merges"] = merges
	broken, _ := json.Marshal(f)
	_, err = Parse(broken)
	if err == nil || !strings.Contains(err.Error(), "byte") {
		t.Fatalf("a byte-level vocab without the byte %q: %v, want an error about byte tokens", gone, err)
	}

	fallback := `{"model":{"type":"BPE","byte_fallback":true,"vocab":{"a":0,"<0x00>":1,"<0x41>":2},"merges":[]}}`
	_, err = Parse([]byte(fallback))
	if err == nil || !strings.Contains(err.Error(), "<0x01>") {
		t.Fatalf("byte_fallback without the byte tokens: %v, want an error naming <0x01>", err)
	}
	// With an unk token nothing is dropped (unknown text becomes <unk>).
	withUnk := `{"model":{"type":"BPE","byte_fallback":true,"unk_token":"<unk>","vocab":{"<unk>":0,"a":1},"merges":[]}}`
	if _, err := Parse([]byte(withUnk)); err != nil {
		t.Errorf("byte_fallback with an unk token: %v", err)
	}
}
