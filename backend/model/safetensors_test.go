package model

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseHeaderRejects(t *testing.T) {
	data16 := make([]byte, 16)
	tests := []struct {
		name   string
		file   []byte
		header string // used with data16 when file is nil
		parts  []string
	}{
		{name: "empty file", file: []byte{}, parts: []string{"shorter than the 8-byte header length"}},
		{name: "header length past EOF", file: rawSafetensors(`{}`, nil)[:9], parts: []string{"runs past the end of the file", "truncated"}},
		{name: "header too large", file: binary.LittleEndian.AppendUint64(nil, MaxHeaderBytes+1), parts: []string{"exceeds the 100000000-byte cap"}},
		{name: "not an object", header: `[1, 2]`, parts: []string{"does not start with '{'"}},
		{name: "bad JSON", header: `{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},}`, parts: []string{"header JSON"}},
		{name: "trailing data", header: `{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}} x`, parts: []string{"header JSON"}},
		{name: "duplicate tensor", header: `{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}`, parts: []string{`tensor "a" appears twice`}},
		{name: "no dtype", header: `{"a": {"shape": [4], "data_offsets": [0, 16]}}`, parts: []string{`tensor "a": header entry has no dtype`}},
		{name: "unknown dtype", header: `{"a": {"dtype": "Q4_K", "shape": [4], "data_offsets": [0, 16]}}`, parts: []string{`tensor "a": dtype "Q4_K" is not supported`}},
		{name: "no shape", header: `{"a": {"dtype": "F32", "data_offsets": [0, 16]}}`, parts: []string{`tensor "a": header entry has no shape`}},
		{name: "negative dim", header: `{"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}`, parts: []string{"invalid dimension -4"}},
		{name: "float dim", header: `{"a": {"dtype": "F32", "shape": [4.5], "data_offsets": [0, 16]}}`, parts: []string{"header JSON", `"a"`}},
		{name: "offsets missing", header: `{"a": {"dtype": "F32", "shape": [4]}}`, parts: []string{"data_offsets must be [begin, end]"}},
		{name: "offsets reversed", header: `{"a": {"dtype": "F32", "shape": [0], "data_offsets": [16, 0]}}`, parts: []string{"not ordered"}},
		{name: "offsets past the data", header: `{"a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}`, parts: []string{"run past the data section (16 bytes)"}},
		{name: "wrong byte length", header: `{"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}`,
			parts: []string{`tensor "a": F32 shape [2 2] needs 4 × 4 bytes, but data_offsets [0, 8] hold 8 bytes`}},
		{name: "overlapping", header: `{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}`,
			parts: []string{`tensor "b": data_offsets [8, 16] overlap tensor "a" (which ends at 12)`}},
		{name: "hole", header: `{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}`,
			parts: []string{`tensor "b"`, "unindexed"}},
		{name: "unindexed tail", header: `{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}`, parts: []string{"8 bytes unindexed after tensor \"a\""}},
		{name: "overflowing shape", header: `{"a": {"dtype": "F32", "shape": [2147483647, 2147483647, 2147483647], "data_offsets": [0, 16]}}`, parts: []string{"overflows"}},
		{name: "metadata not strings", header: `{"__metadata__": {"format": 1}, "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}`, parts: []string{"__metadata__"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := tt.file
			if file == nil {
				file = rawSafetensors(tt.header, data16)
			}
			_, err := ParseHeader(file)
			wantErr(t, err, tt.parts...)
		})
	}
}

func TestParseHeaderAccepts(t *testing.T) {
	// Out-of-order entries, a scalar, a zero-size tensor, an I8 tensor
	// (parsed; the loader rejects it later), metadata and space padding.
	header := `{"b": {"dtype": "BF16", "shape": [2], "data_offsets": [4, 8]}, "__metadata__": {"format": "pt"},
		"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}, "z": {"dtype": "F16", "shape": [0, 3], "data_offsets": [8, 8]},
		"q": {"dtype": "I8", "shape": [3], "data_offsets": [8, 11]}}    `
	h, err := ParseHeader(rawSafetensors(header, make([]byte, 11)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ti := range h.Tensors {
		names = append(names, ti.Name)
	}
	if !slices.Equal(names, []string{"s", "b", "z", "q"}) {
		t.Errorf("data order %v, want [s b z q]", names)
	}
	if h.Metadata["format"] != "pt" || h.DataStart != int64(8+len(header)) {
		t.Errorf("metadata %v data start %d", h.Metadata, h.DataStart)
	}
	if s := h.Tensors[0]; len(s.Shape) != 0 || s.Begin != 0 || s.End != 4 {
		t.Errorf("scalar %+v", s)
	}
}

func TestWriterRoundTrip(t *testing.T) {
	w := NewWriter()
	w.SetMetadata("format", "pt")
	vals := []float32{1, -2.5, 3.25, 0.15625, -0, 1024}
	for _, dt := range []DType{F32, F16, BF16} {
		if err := w.AddFloat32("t."+string(dt), dt, []int{2, 3}, vals); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Add("odd", I8, []int{3}, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	n := binary.LittleEndian.Uint64(file)
	if (8+n)%8 != 0 || file[8+n-1] != ' ' && file[8+n-1] != '}' {
		t.Errorf("header length %d is not padded to 8 bytes", n)
	}
	h, err := ParseHeader(file)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, ti := range h.Tensors {
		order = append(order, ti.Name)
		if (h.DataStart+ti.Begin)%int64(ti.DType.Size()) != 0 {
			t.Errorf("%s at file offset %d is not aligned to %d", ti.Name, h.DataStart+ti.Begin, ti.DType.Size())
		}
		if ti.DType == I8 {
			continue
		}
		got := make([]float32, 6)
		if err := DecodeFloat32s(got, ti.DType, file[h.DataStart+ti.Begin:h.DataStart+ti.End]); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, vals) { // every value is exact in all three types
			t.Errorf("%s round trip %v, want %v", ti.Name, got, vals)
		}
	}
	// Widest first, then by name: F32, then the 2-byte types by name, then I8.
	if want := []string{"t.F32", "t.BF16", "t.F16", "odd"}; !slices.Equal(order, want) {
		t.Errorf("layout %v, want %v", order, want)
	}

	var again bytes.Buffer
	w.WriteTo(&again)
	if !bytes.Equal(file, again.Bytes()) {
		t.Error("writing twice gave different bytes")
	}
	if !strings.HasPrefix(string(file[8:]), `{"__metadata__":{"format":"pt"},"t.F32":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}`) {
		t.Errorf("header %q", file[8:8+n])
	}
}

func TestWriterRejects(t *testing.T) {
	w := NewWriter()
	wantErr(t, w.Add("a", F32, []int{2}, make([]byte, 7)), "needs 8 bytes, got 7")
	wantErr(t, w.Add("__metadata__", F32, []int{1}, make([]byte, 4)), "invalid tensor name")
	wantErr(t, w.Add("a", "F4", []int{2}, make([]byte, 1)), "no whole-byte size")
	wantErr(t, w.AddFloat32("a", I8, []int{2}, []float32{1, 2}), "not supported")
	wantErr(t, w.AddFloat32("a", F32, []int{3}, []float32{1, 2}), "needs 3 values, got 2")
	if err := w.Add("a", F32, []int{1}, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, w.Add("a", F32, []int{1}, make([]byte, 4)), "added twice")
}

func TestWriteFileIsReadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	w := NewWriter()
	w.AddFloat32("x", BF16, []int{4}, []float32{1, 2, 3, 4})
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("stat %v %v", st, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}
