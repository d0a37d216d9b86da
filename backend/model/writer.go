package model

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Writer builds a safetensors file. Output is deterministic: tensors are laid
// out by element size (widest first, so every tensor stays aligned to its
// element size as in Hugging Face's writer) and then by name, and the header
// is padded with spaces to a multiple of 8 bytes.
type Writer struct {
	metadata map[string]string
	tensors  map[string]writerTensor
}

type writerTensor struct {
	dtype DType
	shape []int
	data  []byte
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer {
	return &Writer{metadata: map[string]string{}, tensors: map[string]writerTensor{}}
}

// SetMetadata sets a "__metadata__" entry (Hugging Face writes
// {"format": "pt"}).
func (w *Writer) SetMetadata(key, value string) { w.metadata[key] = value }

// Add stages a tensor of any safetensors dtype with whole-byte elements.
// data must hold exactly elements × size bytes; it is not copied, so it must
// stay unchanged until the file is written.
func (w *Writer) Add(name string, dt DType, shape []int, data []byte) error {
	if name == "" || name == "__metadata__" {
		return fmt.Errorf("safetensors writer: invalid tensor name %q", name)
	}
	if _, dup := w.tensors[name]; dup {
		return fmt.Errorf("safetensors writer: tensor %q added twice", name)
	}
	if dt.Size() == 0 {
		return fmt.Errorf("safetensors writer: tensor %q: dtype %q has no whole-byte size", name, dt)
	}
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("safetensors writer: tensor %q: negative dimension in shape %v", name, shape)
		}
	}
	if want := shapeElements(shape) * int64(dt.Size()); int64(len(data)) != want {
		return fmt.Errorf("safetensors writer: tensor %q: %s shape %v needs %d bytes, got %d", name, dt, shape, want, len(data))
	}
	w.tensors[name] = writerTensor{dtype: dt, shape: slices.Clone(shape), data: data}
	return nil
}

// AddFloat32 stages a tensor given as float32 values, narrowed to dt (F32,
// F16 or BF16).
func (w *Writer) AddFloat32(name string, dt DType, shape []int, values []float32) error {
	if int64(len(values)) != shapeElements(shape) {
		return fmt.Errorf("safetensors writer: tensor %q: shape %v needs %d values, got %d", name, shape, shapeElements(shape), len(values))
	}
	data, err := EncodeFloat32s(dt, values)
	if err != nil {
		return fmt.Errorf("safetensors writer: tensor %q: %w", name, err)
	}
	return w.Add(name, dt, shape, data)
}

// order is the data layout: widest elements first, then by name.
func (w *Writer) order() []string {
	names := slices.Collect(maps.Keys(w.tensors))
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(w.tensors[b].dtype.Size(), w.tensors[a].dtype.Size()); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return names
}

// header is the padded JSON header for the layout given by order.
func (w *Writer) header(names []string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	comma := func() {
		if !first {
			buf.WriteByte(',')
		}
		first = false
	}
	if len(w.metadata) > 0 {
		md, err := json.Marshal(w.metadata) // keys sorted
		if err != nil {
			return nil, err
		}
		comma()
		buf.WriteString(`"__metadata__":`)
		buf.Write(md)
	}
	var offset int64
	for _, name := range names {
		t := w.tensors[name]
		key, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		comma()
		buf.Write(key)
		buf.WriteString(`:{"dtype":"` + string(t.dtype) + `","shape":[`)
		for i, d := range t.shape {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Itoa(d))
		}
		end := offset + int64(len(t.data))
		fmt.Fprintf(&buf, `],"data_offsets":[%d,%d]}`, offset, end)
		offset = end
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	return buf.Bytes(), nil
}

// WriteTo writes the safetensors file to out.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	names := w.order()
	header, err := w.header(names)
	if err != nil {
		return 0, fmt.Errorf("safetensors writer: %w", err)
	}
	var written int64
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	for _, chunk := range append([][]byte{lenBuf[:], header}, w.dataChunks(names)...) {
		n, err := out.Write(chunk)
		written += int64(n)
		if err != nil {
			return written, fmt.Errorf("safetensors writer: %w", err)
		}
	}
	return written, nil
}

func (w *Writer) dataChunks(names []string) [][]byte {
	out := make([][]byte, len(names))
	for i, n := range names {
		out[i] = w.tensors[n].data
	}
	return out
}

// WriteFile writes the safetensors file to path, through a temporary file
// in the same folder renamed into place, so a reader never sees half a file.
func (w *Writer) WriteFile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := w.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
