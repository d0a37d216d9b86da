package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ggufFixtures mirrors testdata/gguf/expected.json, written by the
// fixtures' own tools (llama.cpp, gguf-py), not by this package.
type ggufFixtures struct {
	Cases []struct {
		Name, Arch, Type, File, Sha256 string
		GGUF                           struct {
			Version     uint32 `json:"gguf_version"`
			Alignment   int64  `json:"alignment"`
			DataSection int64  `json:"data_section_offset"`
			Metadata    map[string]struct {
				Type  string          `json:"type"`
				Value json.RawMessage `json:"value"`
			} `json:"metadata"`
			Tensors []struct {
				Name   string  `json:"name"`
				Type   string  `json:"type"`
				Ne     []int64 `json:"ne"`
				Offset int64   `json:"offset"`
				NBytes int64   `json:"n_bytes"`
			} `json:"tensors"`
		} `json:"gguf"`
	} `json:"cases"`
}

func loadGGUFFixtures(t *testing.T) ggufFixtures {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "gguf", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f ggufFixtures
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) != 8 {
		t.Fatalf("expected.json has %d cases, want 8", len(f.Cases))
	}
	return f
}

// TestParseGGUFFixtures compares the parser's view of every fixture file
// with the metadata and tensor table gguf-py recorded for it.
func TestParseGGUFFixtures(t *testing.T) {
	for _, c := range loadGGUFFixtures(t).Cases {
		t.Run(filepath.Base(c.File), func(t *testing.T) {
			file, err := os.ReadFile(filepath.Join("testdata", "gguf", c.File))
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(file); hex.EncodeToString(sum[:]) != c.Sha256 {
				t.Fatalf("fixture sha256 %x, want %s: the copy in testdata is damaged", sum, c.Sha256)
			}
			g, err := ParseGGUF(file)
			if err != nil {
				t.Fatal(err)
			}
			want := c.GGUF
			if g.Version != want.Version || g.Alignment != want.Alignment || g.DataStart != want.DataSection {
				t.Errorf("version %d alignment %d data at %d, want %d %d %d", g.Version, g.Alignment, g.DataStart, want.Version, want.Alignment, want.DataSection)
			}
			if len(g.Keys) != len(want.Metadata) {
				t.Errorf("%d metadata keys, want %d", len(g.Keys), len(want.Metadata))
			}
			for key, w := range want.Metadata {
				v, ok := g.Metadata[key]
				if !ok {
					t.Errorf("metadata %s missing", key)
					continue
				}
				if v.Type.String() != w.Type {
					t.Errorf("%s: type %s, want %s", key, v.Type, w.Type)
					continue
				}
				checkGGUFValue(t, key, v, w.Value)
			}
			if len(g.Tensors) != len(want.Tensors) {
				t.Fatalf("%d tensors, want %d", len(g.Tensors), len(want.Tensors))
			}
			for i, w := range want.Tensors {
				got := g.Tensors[i]
				if got.Name != w.Name || got.Type.String() != w.Type || !slices.Equal(got.Ne, w.Ne) || got.Offset != w.Offset || got.Size != w.NBytes {
					t.Errorf("tensor %d: %s %s %v @%d (%d bytes), want %s %s %v @%d (%d bytes)",
						i, got.Name, got.Type, got.Ne, got.Offset, got.Size, w.Name, w.Type, w.Ne, w.Offset, w.NBytes)
				}
			}
		})
	}
}

// checkGGUFValue compares a scalar with its JSON value, and an array with
// the recorded length and first/last elements.
func checkGGUFValue(t *testing.T, key string, v GGUFValue, raw json.RawMessage) {
	t.Helper()
	if v.Type != GGUFArray {
		var want any
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		var got any
		switch x := v.Value.(type) {
		case string, bool:
			got = x
		case float32:
			got = float64(x)
		default:
			i, _, err := (&GGUF{Metadata: map[string]GGUFValue{key: v}}).Int(key)
			if err != nil {
				t.Errorf("%s: %v", key, err)
				return
			}
			got = float64(i)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
		return
	}
	var want struct {
		ArrayOf string `json:"array_of"`
		Len     int    `json:"len"`
		First   []any  `json:"first"`
		Last    []any  `json:"last"`
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if v.ElemType.String() != want.ArrayOf || v.Len() != want.Len {
		t.Errorf("%s: array of %d %s, want %d %s", key, v.Len(), v.ElemType, want.Len, want.ArrayOf)
		return
	}
	elem := func(i int) string {
		switch a := v.Value.(type) {
		case []string:
			return a[i]
		case []int32:
			return fmt.Sprint(a[i])
		case []float32:
			return fmt.Sprint(float64(a[i]))
		}
		return "?"
	}
	for i, w := range want.First {
		if elem(i) != fmt.Sprint(w) {
			t.Errorf("%s[%d] = %s, want %v", key, i, elem(i), w)
		}
	}
	for i, w := range want.Last {
		j := want.Len - len(want.Last) + i
		if elem(j) != fmt.Sprint(w) {
			t.Errorf("%s[%d] = %s, want %v", key, j, elem(j), w)
		}
	}
}

// TestOpenGGUFFixtures loads each llama/qwen2 fixture as a Model and checks
// the config against the fixture's specs.json (the source models' shapes).
func TestOpenGGUFFixtures(t *testing.T) {
	for _, c := range loadGGUFFixtures(t).Cases {
		t.Run(filepath.Base(c.File), func(t *testing.T) {
			m, err := Open(filepath.Join("testdata", "gguf", c.File))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			cfg := m.Config
			want := map[string][7]int{ // hidden, inter, layers, heads, kv, head_dim, vocab
				"fx-llama": {256, 512, 1, 4, 2, 64, 512},
				"fx-qwen2": {256, 256, 1, 4, 1, 64, 512},
				"fx-qwen3": {256, 256, 1, 2, 1, 128, 512}, // head_dim·heads ≠ hidden
			}[c.Name]
			got := [7]int{cfg.HiddenSize, cfg.IntermediateSize, cfg.NumLayers, cfg.NumHeads, cfg.NumKVHeads, cfg.HeadDim, cfg.VocabSize}
			if got != want {
				t.Errorf("config %v, want %v", got, want)
			}
			if tied := c.Name != "fx-llama"; cfg.TieWordEmbeddings != tied || cfg.QKVBias != (c.Name == "fx-qwen2") || cfg.QKNorm != (c.Name == "fx-qwen3") {
				t.Errorf("tied %v qkv bias %v q/k norm %v, want tied %v", cfg.TieWordEmbeddings, cfg.QKVBias, cfg.QKNorm, tied)
			}
			theta, eps := 1e4, 1e-5
			if c.Name != "fx-llama" {
				theta, eps = 1e6, 1e-6
			}
			if cfg.RopeTheta != theta || float32(cfg.RMSNormEps) != float32(eps) {
				t.Errorf("rope θ %g eps %g, want %g %g", cfg.RopeTheta, cfg.RMSNormEps, theta, eps)
			}
			if cfg.BOSTokenID != 304 || !slices.Equal(cfg.EOSTokenIDs, []int{304}) {
				t.Errorf("bos %d eos %v, want 304 [304]", cfg.BOSTokenID, cfg.EOSTokenIDs)
			}
			f := m.Facts()
			if !strings.HasPrefix(c.Type, f.DType) && f.DType != c.Type {
				t.Errorf("facts dtype %q, want %q", f.DType, c.Type)
			}
			if f.WeightBytesPerToken <= 0 || f.WeightBytesPerToken > f.WeightBytes {
				t.Errorf("weight bytes per token %d of %d", f.WeightBytesPerToken, f.WeightBytes)
			}
		})
	}
}

// TestUnpermuteLlamaQK checks the row order against the definition in
// convert_hf_to_gguf.py (permute: reshape(n_head, 2, d/2, ·).swapaxes(1, 2)),
// applied here to row labels: converting the Hugging Face order and undoing
// it must give back the labels.
func TestUnpermuteLlamaQK(t *testing.T) {
	const heads, d = 3, 8
	rows := heads * d
	hf := make([]int, rows)
	for i := range hf {
		hf[i] = i
	}
	// permute: out[h][i][j] = in[h][j][i] for in shaped (heads, 2, d/2).
	gguf := make([]int, rows)
	for h := range heads {
		for i := range d / 2 {
			for j := range 2 {
				gguf[h*d+2*i+j] = hf[h*d+j*d/2+i]
			}
		}
	}
	data := make([]byte, rows*4)
	for r, label := range gguf {
		data[4*r] = byte(label)
	}
	u, err := unpermuteRows(&Tensor{Name: "q", DType: F32, Shape: []int{rows, 1}, Data: data}, heads)
	if err != nil {
		t.Fatal(err)
	}
	for r := range rows {
		if int(u.Data[4*r]) != r {
			t.Fatalf("row %d holds label %d after unpermuting, want %d", r, u.Data[4*r], r)
		}
	}
}

// TestParseGGUFRejects covers hostile headers: each must fail with an error
// naming the problem, without panicking or allocating what it claims.
func TestParseGGUFRejects(t *testing.T) {
	good := minimalGGUF(t)
	if _, err := ParseGGUF(good); err != nil {
		t.Fatalf("the minimal file does not parse: %v", err)
	}
	le := func(b []byte, off int, v uint64, n int) []byte {
		c := slices.Clone(b)
		for i := range n {
			c[off+i] = byte(v >> (8 * i))
		}
		return c
	}
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "not a GGUF file"},
		{"version 1", le(good, 4, 1, 4), "version 1"},
		{"version 9", le(good, 4, 9, 4), "version 9"},
		{"huge tensor count", le(good, 8, 1<<40, 8), "tensor count"},
		{"huge key count", le(good, 16, 1<<40, 8), "metadata key count"},
		{"keys beyond file", le(good, 16, 60000, 8), "cannot fit"},
		{"truncated", good[:len(good)-30], "truncated"},
		{"huge key length", le(good, 24, 1<<62, 8), "key length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseGGUF(tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	w := NewGGUFWriter()
	w.SetUint32("general.alignment", 48)
	if _, err := ParseGGUF(w.Bytes()); err == nil || !strings.Contains(err.Error(), "power of two") {
		t.Errorf("alignment 48: %v", err)
	}
	w = NewGGUFWriter()
	w.AddTensor("a", GGMLF32, []int64{4}, make([]byte, 16))
	w.AddTensor("b", GGMLF32, []int64{4}, make([]byte, 16))
	file := w.Bytes()
	g, _ := ParseGGUF(file)
	// Point b at a's bytes: overlap.
	bad := slices.Clone(file)
	off := strings.LastIndex(string(bad[:g.DataStart]), "b") + 1 + 4 + 8 + 4
	for i := range 8 {
		bad[off+i] = 0
	}
	if _, err := ParseGGUF(bad); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Errorf("overlapping tensors: %v", err)
	}
	bad[off] = 3 // misaligned
	if _, err := ParseGGUF(bad); err == nil || !strings.Contains(err.Error(), "alignment") {
		t.Errorf("misaligned tensor: %v", err)
	}
	le64 := func(v uint64) {
		for i := range 8 {
			bad[off+i] = byte(v >> (8 * i))
		}
	}
	le64(1 << 20)
	if _, err := ParseGGUF(bad); err == nil || !strings.Contains(err.Error(), "past its end") {
		t.Errorf("tensor past the end: %v", err)
	}
	w = NewGGUFWriter()
	w.SetString("general.architecture", "llama")
	for _, k := range []string{"embedding_length", "feed_forward_length", "attention.head_count"} {
		w.SetUint32("llama."+k, 8)
	}
	w.SetUint32("llama.block_count", 1<<31) // would size per-layer tables
	w.AddTensor("token_embd.weight", GGMLF32, []int64{8, 2}, make([]byte, 64))
	file = w.Bytes()
	g, err := ParseGGUF(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ConfigFromGGUF(g, file); err == nil || !strings.Contains(err.Error(), "block_count") {
		t.Errorf("absurd block_count: %v", err)
	}
	w = NewGGUFWriter()
	w.AddTensor("q", GGMLQ8_0, []int64{16}, make([]byte, 34))
	if err := w.Err(); err == nil || !strings.Contains(err.Error(), "whole") {
		t.Errorf("partial block: %v", err)
	}
}

func minimalGGUF(t *testing.T) []byte {
	t.Helper()
	w := NewGGUFWriter()
	w.SetString("general.architecture", "llama")
	w.AddTensor("x", GGMLF32, []int64{2}, []byte{0, 0, 128, 63, 0, 0, 0, 64})
	return w.Bytes()
}

func TestGGUFWriterRoundTrip(t *testing.T) {
	w := NewGGUFWriter()
	w.SetString("s", "hé")
	w.SetUint32("u", 7)
	w.SetFloat32("f", 0.5)
	w.SetBool("b", true)
	w.SetStrings("ss", []string{"a", "", "c"})
	w.SetInt32s("ii", []int32{-1, 2})
	w.SetFloat32s("ff", []float32{1.5, float32(math.Inf(-1))})
	w.AddTensor("t", GGMLF16, []int64{3, 2}, make([]byte, 12))
	g, err := ParseGGUF(w.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := g.String("s"); s != "hé" {
		t.Errorf("s = %q", s)
	}
	if u, _, _ := g.Int("u"); u != 7 {
		t.Errorf("u = %d", u)
	}
	if f, _, _ := g.Float("f"); f != 0.5 {
		t.Errorf("f = %g", f)
	}
	if b, _ := g.Bool("b"); !b {
		t.Error("b false")
	}
	if ss, _ := g.Strings("ss"); !slices.Equal(ss, []string{"a", "", "c"}) {
		t.Errorf("ss = %q", ss)
	}
	if ii, _ := g.Ints("ii"); !slices.Equal(ii, []int{-1, 2}) {
		t.Errorf("ii = %v", ii)
	}
	if ff, _ := g.Float32s("ff"); len(ff) != 2 || ff[0] != 1.5 || !math.IsInf(float64(ff[1]), -1) {
		t.Errorf("ff = %v", ff)
	}
	if len(g.Tensors) != 1 || !slices.Equal(g.Tensors[0].Shape(), []int{2, 3}) || g.Tensors[0].Size != 12 {
		t.Errorf("tensors %+v", g.Tensors)
	}
}

// TestReleasePagesKeepsTheBytes releases a mapped tensor's pages (as the
// engine does after repacking it) and requires its bytes to read back the
// same; a heap copy handed to ReleasePages must be left alone (the advice
// would zero anonymous memory).
func TestReleasePagesKeepsTheBytes(t *testing.T) {
	m, err := Open(filepath.Join("testdata", "gguf", "models", "fx-llama-Q4_K_M.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var largest *Tensor
	for _, name := range m.TensorNames() {
		if tn, _ := m.Tensor(name); largest == nil || len(tn.Data) > len(largest.Data) {
			largest = tn
		}
	}
	if len(largest.Data) < 3*os.Getpagesize() {
		t.Fatalf("largest tensor %s has %d bytes: too small to span whole pages", largest.Name, len(largest.Data))
	}
	want := slices.Clone(largest.Data)
	if err := m.ReleasePages(largest.Data); err != nil {
		t.Fatalf("ReleasePages(%s): %v", largest.Name, err)
	}
	if !slices.Equal(largest.Data, want) {
		t.Fatalf("%s reads differently after its pages were released", largest.Name)
	}
	heap := slices.Clone(want)
	if err := m.ReleasePages(heap); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(heap, want) {
		t.Fatal("ReleasePages changed a heap copy: it must only advise on the model's mappings")
	}
}
