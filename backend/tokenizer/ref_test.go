package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// The expected ids come from an independent implementation (the JavaScript
// port in @lenml/tokenizers) run over the same tokenizer.json files; see
// testdata/README.md for how they were made.

type expectedFile struct {
	Families map[string]struct {
		Package string `json:"package"`
		Cases   []struct {
			Text       string `json:"text"`
			IDs        []int  `json:"ids"`
			IDsSpecial []int  `json:"ids_special"`
			Decoded    string `json:"decoded"`
		} `json:"cases"`
	} `json:"families"`
}

// refFamily says which tokenizer file a family in expected.json uses and
// what decode(encode(text)) should give back.
type refFamily struct {
	file      string
	transform func(map[string]any) // applied to the parsed JSON before Parse
	roundTrip func(string) string  // expected decode(encode(text)); nil: skip
	// The legacy SentencePiece normalizer prepends "▁" to every section of
	// text, including the ones right after a special token, so such texts
	// decode with an extra space (Hugging Face does the same).
	roundTripNoAdded bool
	optional         bool // the file may be absent (license); skip then
}

var refFamilies = map[string]refFamily{
	"llama3": {file: "llama3.tokenizer.json.gz", roundTrip: func(s string) string { return s }, optional: true},
	"qwen3":  {file: "qwen3.tokenizer.json.gz", roundTrip: norm.NFC.String},
	// A literal "▁" in the text is indistinguishable from an encoded space
	// in SentencePiece-style vocabularies, so it decodes as a space.
	"mistral": {file: "mistral.tokenizer.json.gz", roundTrip: func(s string) string { return strings.ReplaceAll(s, "\u2581", " ") }, roundTripNoAdded: true},
	// The same vocabulary in the newer SentencePiece conversion layout; gen.js
	// applies the identical transform.
	"mistral-metaspace": {file: "mistral.tokenizer.json.gz", transform: metaspaceVariant},
	// The demo models' tokenizer as BuildDemoByteLevel(254) writes it.
	"demo": {file: "demo.tokenizer.json", roundTrip: func(s string) string { return s }},
}

var refFamilyNames = []string{"llama3", "qwen3", "mistral", "mistral-metaspace", "demo"}

func metaspaceVariant(j map[string]any) {
	m := map[string]any{"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": false, "add_prefix_space": true}
	j["normalizer"] = nil
	j["pre_tokenizer"] = m
	j["decoder"] = m
}

// tokenizerCache parses each large test tokenizer once per test binary.
type tokenizerCache struct {
	mu sync.Mutex
	m  map[string]*Tokenizer
}

var testTokenizers = &tokenizerCache{m: map[string]*Tokenizer{}}

// readTestdata reads a testdata file, gunzipping *.gz files.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !strings.HasSuffix(name, ".gz") {
		data, err := io.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func loadFamily(t testing.TB, name string) *Tokenizer {
	t.Helper()
	testTokenizers.mu.Lock()
	defer testTokenizers.mu.Unlock()
	if tk, ok := testTokenizers.m[name]; ok {
		return tk
	}
	fam, ok := refFamilies[name]
	if !ok {
		t.Fatalf("no tokenizer file for family %q", name)
	}
	if _, err := os.Stat(filepath.Join("testdata", fam.file)); os.IsNotExist(err) && fam.optional {
		t.Skipf("testdata/%s is not present (not redistributable; see testdata/README.md to add it)", fam.file)
	}
	data := readTestdata(t, fam.file)
	if fam.transform != nil {
		var j map[string]any
		if err := json.Unmarshal(data, &j); err != nil {
			t.Fatal(err)
		}
		fam.transform(j)
		var err error
		if data, err = json.Marshal(j); err != nil {
			t.Fatal(err)
		}
	}
	tk, err := Parse(data)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	testTokenizers.m[name] = tk
	return tk
}

func loadExpected(t *testing.T) *expectedFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expectedFile
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

func TestReferenceIDs(t *testing.T) {
	e := loadExpected(t)
	for _, name := range refFamilyNames {
		fam, ok := e.Families[name]
		if !ok || len(fam.Cases) == 0 {
			t.Fatalf("expected.json has no cases for %s", name)
		}
		t.Run(name, func(t *testing.T) {
			tk := loadFamily(t, name)
			match := 0
			for i, c := range fam.Cases {
				got := tk.Encode(c.Text, false)
				if !slices.Equal(got, c.IDs) {
					t.Errorf("case %d %q:\n got  %v\n want %v", i, c.Text, got, c.IDs)
					continue
				}
				gotSp := tk.Encode(c.Text, true)
				if !slices.Equal(gotSp, c.IDsSpecial) {
					t.Errorf("case %d %q with special tokens:\n got  %v\n want %v", i, c.Text, gotSp, c.IDsSpecial)
					continue
				}
				match++
			}
			t.Logf("%s (%s): %d/%d cases match", name, fam.Package, match, len(fam.Cases))
		})
	}
}

// TestReferenceDecode checks decode against the reference decoder's output,
// and decode(encode(x)) against the input.
func TestReferenceDecode(t *testing.T) {
	e := loadExpected(t)
	for _, name := range refFamilyNames {
		fam := e.Families[name]
		t.Run(name, func(t *testing.T) {
			tk := loadFamily(t, name)
			for i, c := range fam.Cases {
				got := tk.Decode(c.IDs)
				want := c.Decoded
				if name == "mistral-metaspace" && metaspaceFirstPieceQuirk(tk, c.IDs) {
					// Hugging Face's Metaspace decoder drops every "▁" of the
					// first piece; the JS port strips only one leading space.
					// We follow Hugging Face (see metaspaceDecoder).
					want = strings.Replace(want, " ", "", strings.Count(tk.Piece(c.IDs[0]), "\u2581")-1)
				}
				if got != want {
					t.Errorf("case %d %q: decode = %q, reference %q", i, c.Text, got, want)
				}
				hasAdded := slices.ContainsFunc(c.IDs, func(id int) bool { _, ok := tk.addedByID[id]; return ok })
				if rt := refFamilies[name].roundTrip; rt != nil && !(hasAdded && refFamilies[name].roundTripNoAdded) {
					if back := tk.Decode(tk.Encode(c.Text, false)); back != rt(c.Text) {
						t.Errorf("case %d: decode(encode(%q)) = %q", i, c.Text, back)
					}
				}
			}
		})
	}
}

func metaspaceFirstPieceQuirk(tk *Tokenizer, ids []int) bool {
	return len(ids) > 0 && strings.Count(tk.Piece(ids[0]), "\u2581") > 1
}

// TestStreamDecoderMatchesDecode feeds every corpus encoding token by token:
// the pieces must be valid UTF-8 and concatenate to Decode's result.
func TestStreamDecoderMatchesDecode(t *testing.T) {
	e := loadExpected(t)
	for _, name := range refFamilyNames {
		fam := e.Families[name]
		t.Run(name, func(t *testing.T) {
			tk := loadFamily(t, name)
			for i, c := range fam.Cases {
				sd := tk.NewStreamDecoder()
				var b bytes.Buffer
				for _, id := range c.IDs {
					out := sd.Next(id)
					if !isValidUTF8(out) {
						t.Fatalf("case %d: stream emitted invalid UTF-8 %q", i, out)
					}
					b.WriteString(out)
				}
				b.WriteString(sd.Flush())
				if want := tk.Decode(c.IDs); b.String() != want {
					t.Errorf("case %d %q: stream %q, decode %q", i, c.Text, b.String(), want)
				}
			}
		})
	}
}
