package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"energyprofiler/backend/demo"
	"energyprofiler/backend/tokenizer"
)

// tinyDemo writes a very small model with the demo generator, so the test
// uses a genuine model folder (config, safetensors, tokenizer.json).
func tinyDemo(t *testing.T) string {
	t.Helper()
	dir, err := demo.WriteSpec(t.TempDir(), demo.Spec{Name: "tiny", Hidden: 32, Intermediate: 64, Layers: 2, Heads: 4, KVHead: 2,
		Vocab: tokenizer.DemoVocabSize(demo.TokenizerMerges) + 8, Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// runCLI is shared with inspect_test.go.

func TestGenerateJSON(t *testing.T) {
	dir := tinyDemo(t)
	code, out, errOut := runCLI("generate", "--model", dir, "--ids", "72, 101,108", "--max-tokens", "12", "--ignore-eos", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	for _, key := range []string{"prompt_ids", "generated_ids", "text", "prefill_tokens_per_second", "decode_tokens_per_second"} {
		if _, ok := rep[key]; !ok {
			t.Errorf("JSON lacks %q: %s", key, out)
		}
	}
	var r generateReport
	json.Unmarshal([]byte(out), &r)
	if !slices.Equal(r.PromptIDs, []int{72, 101, 108}) || len(r.GeneratedIDs) != 12 {
		t.Fatalf("prompt %v, %d generated; want [72 101 108] and 12", r.PromptIDs, len(r.GeneratedIDs))
	}
	if r.PrefillTokensPerSecond <= 0 || r.DecodeTokensPerSecond <= 0 {
		t.Errorf("rates %g / %g", r.PrefillTokensPerSecond, r.DecodeTokensPerSecond)
	}
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var textIDs []int
	for _, id := range r.GeneratedIDs {
		if !tok.IsSpecial(id) {
			textIDs = append(textIDs, id)
		}
	}
	if want := tok.Decode(textIDs); r.Text != want {
		t.Errorf("text %q, decode of generated ids %q", r.Text, want)
	}
}

func TestGenerateStreamsSameTextAsJSON(t *testing.T) {
	dir := tinyDemo(t)
	args := []string{"generate", "--model", dir, "--prompt", "Once upon a time", "--max-tokens", "10", "--ignore-eos"}
	code, streamed, errOut := runCLI(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "tok/s") {
		t.Errorf("no speed summary on stderr: %q", errOut)
	}
	code, out, errOut := runCLI(append(args, "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r generateReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSuffix(streamed, "\n") != r.Text {
		t.Errorf("streamed %q, JSON text %q", streamed, r.Text)
	}
	// Seeded sampling repeats itself.
	sample := append(args, "--temperature", "0.8", "--top-p", "0.9", "--top-k", "50", "--seed", "7", "--json")
	var ra, rb generateReport
	_, a, _ := runCLI(sample...)
	_, b, _ := runCLI(sample...)
	if json.Unmarshal([]byte(a), &ra) != nil || json.Unmarshal([]byte(b), &rb) != nil {
		t.Fatalf("bad JSON:\n%s\n%s", a, b)
	}
	if !slices.Equal(ra.GeneratedIDs, rb.GeneratedIDs) || ra.Text != rb.Text {
		t.Errorf("equal seeds differ:\n%s\n%s", a, b)
	}
}

func TestGenerateErrors(t *testing.T) {
	dir := tinyDemo(t)
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"generate", "--prompt", "hi"}, 2, "--model"},
		{[]string{"generate", "--model", dir}, 2, "exactly one"},
		{[]string{"generate", "--model", dir, "--prompt", "a", "--ids", "1"}, 2, "exactly one"},
		{[]string{"generate", "--model", dir, "--ids", "1,x"}, 2, "not a token id"},
		{[]string{"generate", "--model", dir, "--ids", "1", "--greedy", "--temperature", "1"}, 2, "exclude"},
		{[]string{"generate", "--model", filepath.Join(dir, "missing"), "--ids", "1"}, 1, "config.json"},
		{[]string{"generate", "--model", dir, "--ids", "999999"}, 1, "vocabulary"},
	}
	for _, c := range cases {
		code, _, errOut := runCLI(c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args[1:], code, errOut, c.code, c.msg)
		}
	}
}
