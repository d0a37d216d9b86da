package model

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
)

// GGUFWriter builds a GGUF version 3 file: metadata in the order it was
// set, then tensors in the order they were added, each aligned to 32 bytes
// (the default alignment). Output is deterministic. It is how the project
// writes its quantized demo models and test files; tensor data must already
// be in the ggml layout of its type (see package compute for quantizers).
type GGUFWriter struct {
	meta    bytes.Buffer
	nKV     int
	tensors []ggufWriterTensor
	err     error
}

type ggufWriterTensor struct {
	name string
	typ  GGMLType
	ne   []int64
	data []byte
}

// NewGGUFWriter returns an empty writer.
func NewGGUFWriter() *GGUFWriter { return &GGUFWriter{} }

func (w *GGUFWriter) key(k string, t GGUFValueType) {
	w.nKV++
	writeGGUFString(&w.meta, k)
	binary.Write(&w.meta, binary.LittleEndian, uint32(t))
}

func writeGGUFString(b *bytes.Buffer, s string) {
	binary.Write(b, binary.LittleEndian, uint64(len(s)))
	b.WriteString(s)
}

// SetString sets a STRING value.
func (w *GGUFWriter) SetString(k, v string) {
	w.key(k, GGUFString)
	writeGGUFString(&w.meta, v)
}

// SetUint32 sets a UINT32 value.
func (w *GGUFWriter) SetUint32(k string, v uint32) {
	w.key(k, GGUFUint32)
	binary.Write(&w.meta, binary.LittleEndian, v)
}

// SetInt32 sets an INT32 value.
func (w *GGUFWriter) SetInt32(k string, v int32) {
	w.key(k, GGUFInt32)
	binary.Write(&w.meta, binary.LittleEndian, v)
}

// SetFloat32 sets a FLOAT32 value.
func (w *GGUFWriter) SetFloat32(k string, v float32) {
	w.key(k, GGUFFloat32)
	binary.Write(&w.meta, binary.LittleEndian, math.Float32bits(v))
}

// SetBool sets a BOOL value.
func (w *GGUFWriter) SetBool(k string, v bool) {
	w.key(k, GGUFBool)
	b := byte(0)
	if v {
		b = 1
	}
	w.meta.WriteByte(b)
}

func (w *GGUFWriter) arrayHead(k string, elem GGUFValueType, n int) {
	w.key(k, GGUFArray)
	binary.Write(&w.meta, binary.LittleEndian, uint32(elem))
	binary.Write(&w.meta, binary.LittleEndian, uint64(n))
}

// SetStrings sets an ARRAY of STRING.
func (w *GGUFWriter) SetStrings(k string, v []string) {
	w.arrayHead(k, GGUFString, len(v))
	for _, s := range v {
		writeGGUFString(&w.meta, s)
	}
}

// SetInt32s sets an ARRAY of INT32.
func (w *GGUFWriter) SetInt32s(k string, v []int32) {
	w.arrayHead(k, GGUFInt32, len(v))
	binary.Write(&w.meta, binary.LittleEndian, v)
}

// SetFloat32s sets an ARRAY of FLOAT32.
func (w *GGUFWriter) SetFloat32s(k string, v []float32) {
	w.arrayHead(k, GGUFFloat32, len(v))
	binary.Write(&w.meta, binary.LittleEndian, v)
}

// AddTensor adds a tensor with dimensions ne in ggml order (ne[0] is the
// row length) and its data in the layout of typ. data is not copied.
func (w *GGUFWriter) AddTensor(name string, typ GGMLType, ne []int64, data []byte) {
	info := GGUFTensorInfo{Name: name, Type: typ, Ne: ne}
	if err := checkGGUFTensor(&info, 1); err != nil {
		w.err = cmpErr(w.err, fmt.Errorf("gguf writer: %w", err))
		return
	}
	if info.Size != int64(len(data)) {
		w.err = cmpErr(w.err, fmt.Errorf("gguf writer: tensor %q: %s %v needs %d bytes, got %d", name, typ, ne, info.Size, len(data)))
		return
	}
	w.tensors = append(w.tensors, ggufWriterTensor{name, typ, ne, data})
}

// Err reports the first invalid tensor added, if any.
func (w *GGUFWriter) Err() error { return w.err }

// Bytes returns the whole file.
func (w *GGUFWriter) Bytes() []byte {
	const align = 32
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint32(ggufMagic))
	binary.Write(&b, binary.LittleEndian, uint32(3))
	binary.Write(&b, binary.LittleEndian, uint64(len(w.tensors)))
	binary.Write(&b, binary.LittleEndian, uint64(w.nKV))
	b.Write(w.meta.Bytes())
	var offset int64
	for _, t := range w.tensors {
		writeGGUFString(&b, t.name)
		binary.Write(&b, binary.LittleEndian, uint32(len(t.ne)))
		binary.Write(&b, binary.LittleEndian, t.ne)
		binary.Write(&b, binary.LittleEndian, uint32(t.typ))
		binary.Write(&b, binary.LittleEndian, uint64(offset))
		offset = alignUp(offset+int64(len(t.data)), align)
	}
	pad := func() {
		for b.Len()%align != 0 {
			b.WriteByte(0)
		}
	}
	pad()
	for _, t := range w.tensors {
		b.Write(t.data)
		pad()
	}
	return b.Bytes()
}

// WriteFile writes the file to path.
func (w *GGUFWriter) WriteFile(path string) error {
	if w.err != nil {
		return w.err
	}
	return os.WriteFile(path, w.Bytes(), 0o644)
}
