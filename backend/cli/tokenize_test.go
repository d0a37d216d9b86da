package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"energyprofiler/backend/tokenizer"
)

func runTokenizeCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Main(context.Background(), append([]string{"tokenize"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// mistralDir makes a model folder with the real Mistral tokenizer.json kept in
// backend/tokenizer/testdata (origin in its README).
func mistralDir(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "tokenizer", "testdata", "mistral.tokenizer.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTokenizeJSONMatchesReference(t *testing.T) {
	dir := mistralDir(t)
	// Ids from the independent JS tokenizer (backend/tokenizer/testdata/expected.json,
	// family "mistral", case "Hello, world!"), with and without the <s> BOS.
	tests := []struct {
		args []string
		ids  []int
	}{
		{[]string{"--model", dir, "--json", "Hello, world!"}, []int{1, 22557, 28725, 1526, 28808}},
		{[]string{"--model", dir, "Hello, world!", "--json", "--no-special"}, []int{22557, 28725, 1526, 28808}},
	}
	for _, tt := range tests {
		code, stdout, stderr := runTokenizeCLI(tt.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d, stderr %s", tt.args, code, stderr)
		}
		var r struct {
			IDs    []int    `json:"ids"`
			Pieces []string `json:"pieces"`
			Count  int      `json:"count"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("%v: output is not JSON: %v\n%s", tt.args, err, stdout)
		}
		if !slices.Equal(r.IDs, tt.ids) || r.Count != len(tt.ids) || len(r.Pieces) != len(tt.ids) {
			t.Errorf("%v: got %+v, want ids %v", tt.args, r, tt.ids)
		}
		if r.Pieces[len(r.Pieces)-1] != "!" || r.Pieces[len(r.Pieces)-2] != "▁world" {
			t.Errorf("%v: pieces %q", tt.args, r.Pieces)
		}
	}
}

func TestTokenizeTextTable(t *testing.T) {
	data, err := tokenizer.BuildDemoByteLevel(254)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// A tokenizer.json path works as well as the folder.
	for _, model := range []string{dir, file} {
		code, stdout, stderr := runTokenizeCLI("--model", model, "say the 😀")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, want := range []string{"tokens (vocabulary 512)", `"<|begin_of_text|>"`, "(special)", `"Ġthe"`, `" the"`} {
			if !strings.Contains(stdout, want) {
				t.Errorf("--model %s: output lacks %q:\n%s", model, want, stdout)
			}
		}
	}
}

func TestTokenizeErrors(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"hello"}, 2, "--model DIR is required"},
		{[]string{"--model", empty}, 2, "exactly one TEXT"},
		{[]string{"--model", empty, "a", "b"}, 2, "quote text"},
		{[]string{"--model", empty, "hello"}, 1, "has no tokenizer.json"},
		{[]string{"--model", filepath.Join(empty, "missing"), "hello"}, 1, "point --model at"},
	}
	for _, tt := range tests {
		code, _, stderr := runTokenizeCLI(tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.contains) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, stderr, tt.code, tt.contains)
		}
	}
	bad := filepath.Join(empty, "tokenizer.json")
	if err := os.WriteFile(bad, []byte(`{"model":{"type":"Unigram","vocab":[]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runTokenizeCLI("--model", empty, "hi"); code != 1 || !strings.Contains(stderr, "only BPE") {
		t.Errorf("unigram tokenizer: exit %d, %s", code, stderr)
	}
}
