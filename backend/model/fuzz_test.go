package model

import (
	"bytes"
	"testing"
)

// FuzzParseHeader feeds arbitrary files to the header parser: it must never
// panic, and whatever it accepts must be safe to slice: every tensor inside
// the data section, in order, sized by its shape and dtype. The seed corpus
// in testdata/fuzz/FuzzParseHeader runs as a regression test under plain
// `go test`.
func FuzzParseHeader(f *testing.F) {
	w := NewWriter()
	w.SetMetadata("format", "pt")
	w.AddFloat32("model.norm.weight", BF16, []int{4}, []float32{1, 2, 3, 4})
	w.AddFloat32("model.embed_tokens.weight", F32, []int{2, 2}, []float32{1, 2, 3, 4})
	var buf bytes.Buffer
	w.WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Add(rawSafetensors(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)))

	f.Fuzz(func(t *testing.T, file []byte) {
		h, err := ParseHeader(file)
		if err != nil {
			return
		}
		if h.DataStart < 8 || h.DataStart > int64(len(file)) {
			t.Fatalf("data start %d outside a %d-byte file", h.DataStart, len(file))
		}
		next := int64(0)
		for _, ti := range h.Tensors {
			if ti.Begin != next || ti.End < ti.Begin || h.DataStart+ti.End > int64(len(file)) {
				t.Fatalf("tensor %q [%d, %d) breaks the tiling at %d (file %d bytes)", ti.Name, ti.Begin, ti.End, next, len(file))
			}
			if shapeElements(ti.Shape)*int64(ti.DType.Size()) != ti.End-ti.Begin {
				t.Fatalf("tensor %q: shape %v × %s does not match %d bytes", ti.Name, ti.Shape, ti.DType, ti.End-ti.Begin)
			}
			_ = file[h.DataStart+ti.Begin : h.DataStart+ti.End]
			next = ti.End
		}
		if h.DataStart+next != int64(len(file)) {
			t.Fatalf("tensors end at %d, file at %d", h.DataStart+next, len(file))
		}
	})
}
