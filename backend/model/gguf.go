package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// GGUF is llama.cpp's single-file model format: a header of typed key/value
// metadata (architecture, hyperparameters, tokenizer) and a tensor table,
// then the tensor data, each tensor aligned to general.alignment bytes.
// https://github.com/ggml-org/ggml/blob/master/docs/gguf.md

// ggufMagic is "GGUF" read as a little-endian uint32.
const ggufMagic = 0x46554747

// The bounds every count and length read from a GGUF file is checked
// against before anything is allocated. Real files stay far below them
// (the largest vocabularies have ~260k tokens and merges, chat templates a
// few tens of KiB); a corrupt or hostile file meets a clear error instead
// of an allocation of its choosing. Every array is also bounded by the
// bytes left in the file (each element takes at least one byte).
const (
	MaxGGUFTensors   = 1 << 16 // tensor table entries
	MaxGGUFKeys      = 1 << 16 // metadata key/value pairs
	MaxGGUFArrayLen  = 1 << 24 // elements of one metadata array
	MaxGGUFStringLen = 1 << 24 // bytes of one string (chat templates are the long ones)
	MaxGGUFDims      = 4       // GGML_MAX_DIMS
	MaxGGUFNameLen   = 64      // GGML_MAX_NAME, tensor names included
	// MaxGGUFAlignment caps general.alignment (the default is 32).
	MaxGGUFAlignment = 1 << 16
)

// GGUFValueType is the type tag of a metadata value.
type GGUFValueType uint32

// The metadata value types of the GGUF specification.
const (
	GGUFUint8 GGUFValueType = iota
	GGUFInt8
	GGUFUint16
	GGUFInt16
	GGUFUint32
	GGUFInt32
	GGUFFloat32
	GGUFBool
	GGUFString
	GGUFArray
	GGUFUint64
	GGUFInt64
	GGUFFloat64
)

var ggufValueTypeNames = [...]string{"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"}

func (t GGUFValueType) String() string {
	if int(t) < len(ggufValueTypeNames) {
		return ggufValueTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// size is the encoded width of a fixed-size value type (0 for string and
// array).
func (t GGUFValueType) size() int {
	switch t {
	case GGUFUint8, GGUFInt8, GGUFBool:
		return 1
	case GGUFUint16, GGUFInt16:
		return 2
	case GGUFUint32, GGUFInt32, GGUFFloat32:
		return 4
	case GGUFUint64, GGUFInt64, GGUFFloat64:
		return 8
	}
	return 0
}

// GGUFValue is one metadata value. Value holds a Go value of the matching
// type: uint8 … float64, bool, string, or for arrays a typed slice
// ([]string, []int32, []float32, ...; ElemType says which).
type GGUFValue struct {
	Type     GGUFValueType
	ElemType GGUFValueType // arrays only
	Value    any
}

// Len is the element count of an array value (0 for scalars).
func (v GGUFValue) Len() int {
	if v.Type != GGUFArray {
		return 0
	}
	switch a := v.Value.(type) {
	case []string:
		return len(a)
	case []uint8:
		return len(a)
	case []int8:
		return len(a)
	case []uint16:
		return len(a)
	case []int16:
		return len(a)
	case []uint32:
		return len(a)
	case []int32:
		return len(a)
	case []float32:
		return len(a)
	case []bool:
		return len(a)
	case []uint64:
		return len(a)
	case []int64:
		return len(a)
	case []float64:
		return len(a)
	}
	return 0
}

// GGMLType is a tensor element type of the ggml library.
type GGMLType uint32

// The ggml tensor types this package knows by name. Only some of them can
// be loaded (see ggmlDType); the rest are named so errors can say what a
// file holds.
const (
	GGMLF32     GGMLType = 0
	GGMLF16     GGMLType = 1
	GGMLQ4_0    GGMLType = 2
	GGMLQ4_1    GGMLType = 3
	GGMLQ5_0    GGMLType = 6
	GGMLQ5_1    GGMLType = 7
	GGMLQ8_0    GGMLType = 8
	GGMLQ8_1    GGMLType = 9
	GGMLQ2_K    GGMLType = 10
	GGMLQ3_K    GGMLType = 11
	GGMLQ4_K    GGMLType = 12
	GGMLQ5_K    GGMLType = 13
	GGMLQ6_K    GGMLType = 14
	GGMLQ8_K    GGMLType = 15
	GGMLIQ2_XXS GGMLType = 16
	GGMLIQ2_XS  GGMLType = 17
	GGMLIQ3_XXS GGMLType = 18
	GGMLIQ1_S   GGMLType = 19
	GGMLIQ4_NL  GGMLType = 20
	GGMLIQ3_S   GGMLType = 21
	GGMLIQ2_S   GGMLType = 22
	GGMLIQ4_XS  GGMLType = 23
	GGMLI8      GGMLType = 24
	GGMLI16     GGMLType = 25
	GGMLI32     GGMLType = 26
	GGMLI64     GGMLType = 27
	GGMLF64     GGMLType = 28
	GGMLIQ1_M   GGMLType = 29
	GGMLBF16    GGMLType = 30
	GGMLTQ1_0   GGMLType = 34
	GGMLTQ2_0   GGMLType = 35
	GGMLMXFP4   GGMLType = 39
)

// ggmlTypeInfo is a type's name and block layout: blockValues elements are
// stored in blockBytes bytes (ggml's type_traits blck_size and type_size).
type ggmlTypeInfo struct {
	name                    string
	blockValues, blockBytes int
}

var ggmlTypes = map[GGMLType]ggmlTypeInfo{
	GGMLF32: {"F32", 1, 4}, GGMLF16: {"F16", 1, 2}, GGMLBF16: {"BF16", 1, 2}, GGMLF64: {"F64", 1, 8},
	GGMLI8: {"I8", 1, 1}, GGMLI16: {"I16", 1, 2}, GGMLI32: {"I32", 1, 4}, GGMLI64: {"I64", 1, 8},
	GGMLQ4_0: {"Q4_0", 32, 18}, GGMLQ4_1: {"Q4_1", 32, 20}, GGMLQ5_0: {"Q5_0", 32, 22}, GGMLQ5_1: {"Q5_1", 32, 24},
	GGMLQ8_0: {"Q8_0", 32, 34}, GGMLQ8_1: {"Q8_1", 32, 36},
	GGMLQ2_K: {"Q2_K", 256, 84}, GGMLQ3_K: {"Q3_K", 256, 110}, GGMLQ4_K: {"Q4_K", 256, 144},
	GGMLQ5_K: {"Q5_K", 256, 176}, GGMLQ6_K: {"Q6_K", 256, 210}, GGMLQ8_K: {"Q8_K", 256, 292},
	GGMLIQ2_XXS: {"IQ2_XXS", 256, 66}, GGMLIQ2_XS: {"IQ2_XS", 256, 74}, GGMLIQ3_XXS: {"IQ3_XXS", 256, 98},
	GGMLIQ1_S: {"IQ1_S", 256, 50}, GGMLIQ4_NL: {"IQ4_NL", 32, 18}, GGMLIQ3_S: {"IQ3_S", 256, 110},
	GGMLIQ2_S: {"IQ2_S", 256, 82}, GGMLIQ4_XS: {"IQ4_XS", 256, 136}, GGMLIQ1_M: {"IQ1_M", 256, 56},
	GGMLTQ1_0: {"TQ1_0", 256, 54}, GGMLTQ2_0: {"TQ2_0", 256, 66}, GGMLMXFP4: {"MXFP4", 32, 17},
}

func (t GGMLType) String() string {
	if info, ok := ggmlTypes[t]; ok {
		return info.name
	}
	return fmt.Sprintf("ggml type %d", uint32(t))
}

// GGUFTensorInfo is one entry of the tensor table.
type GGUFTensorInfo struct {
	Name string
	Type GGMLType
	// Ne are the dimensions in ggml order: Ne[0] is the contiguous row
	// length, so a [rows, cols] matrix has Ne = [cols, rows].
	Ne []int64
	// Offset is relative to the data section; Size is the byte length.
	Offset, Size int64
}

// Shape is the dimensions in row-major (PyTorch) order: Ne reversed.
func (t GGUFTensorInfo) Shape() []int {
	s := make([]int, len(t.Ne))
	for i, d := range t.Ne {
		s[len(t.Ne)-1-i] = int(d)
	}
	return s
}

// GGUF is a parsed and validated GGUF header.
type GGUF struct {
	Version   uint32
	Alignment int64
	// DataStart is the file offset of the data section; tensor offsets are
	// relative to it.
	DataStart int64
	// Keys are the metadata keys in file order.
	Keys     []string
	Metadata map[string]GGUFValue
	// Tensors are in file (table) order.
	Tensors []GGUFTensorInfo
}

// ggufReader reads little-endian values from a byte slice, remembering the
// first error: after one, reads return zero values, so parsing code can
// check once per item.
type ggufReader struct {
	b   []byte
	off int
	err error
}

func (r *ggufReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: %s", r.off, fmt.Sprintf(format, args...))
	}
}

func (r *ggufReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail("need %d bytes, %d left: truncated file", n, len(r.b)-r.off)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *ggufReader) u8() uint8 {
	if s := r.take(1); s != nil {
		return s[0]
	}
	return 0
}

func (r *ggufReader) u16() uint16 {
	if s := r.take(2); s != nil {
		return binary.LittleEndian.Uint16(s)
	}
	return 0
}

func (r *ggufReader) u32() uint32 {
	if s := r.take(4); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}

func (r *ggufReader) u64() uint64 {
	if s := r.take(8); s != nil {
		return binary.LittleEndian.Uint64(s)
	}
	return 0
}

func (r *ggufReader) left() int { return len(r.b) - r.off }

// count reads a uint64 count and checks it against limit and against the
// bytes left (each item takes at least minBytes).
func (r *ggufReader) count(what string, limit uint64, minBytes int) int {
	n := r.u64()
	if r.err != nil {
		return 0
	}
	if n > limit {
		r.fail("%s %d exceeds the limit of %d: corrupt file", what, n, limit)
		return 0
	}
	if minBytes > 0 && n > uint64(r.left()/minBytes) {
		r.fail("%s %d cannot fit in the %d bytes left: truncated or corrupt file", what, n, r.left())
		return 0
	}
	return int(n)
}

func (r *ggufReader) str(what string) string {
	n := r.count(what+" length", MaxGGUFStringLen, 1)
	return string(r.take(n))
}

// ParseGGUF parses and validates the header of a GGUF file (version 2 or 3)
// whose complete contents are file. It checks every count and length
// against the limits above and the file size before allocating, rejects
// duplicate keys and tensor names, unknown value and tensor types, and
// checks every tensor: dimensions positive and whole blocks per row, its
// data aligned, inside the data section and not overlapping another.
// Errors say where and what was expected; the caller adds the file name.
func ParseGGUF(file []byte) (*GGUF, error) {
	r := &ggufReader{b: file}
	if len(file) < 4 || binary.LittleEndian.Uint32(file) != ggufMagic {
		return nil, errors.New("not a GGUF file (it does not start with \"GGUF\")")
	}
	r.off = 4
	g := &GGUF{Version: r.u32(), Metadata: map[string]GGUFValue{}}
	if r.err == nil && g.Version != 2 && g.Version != 3 {
		if g.Version == 1 {
			return nil, errors.New("GGUF version 1 is not supported (convert the model again with a current llama.cpp)")
		}
		return nil, fmt.Errorf("GGUF version %d is not supported (supported: 2, 3)", g.Version)
	}
	// A tensor entry takes at least 8+1+4+4+8+4 bytes, a key/value 8+1+4+1.
	nTensors := r.count("tensor count", MaxGGUFTensors, 0)
	nKV := r.count("metadata key count", MaxGGUFKeys, 0)
	if r.err != nil {
		return nil, fmt.Errorf("GGUF header: %w", r.err)
	}
	if nKV > r.left()/14 || nTensors > r.left()/29 {
		return nil, fmt.Errorf("GGUF header: %d keys and %d tensors cannot fit in a %d-byte file: truncated or corrupt", nKV, nTensors, len(file))
	}
	for i := 0; i < nKV; i++ {
		key := r.str("key")
		if r.err != nil {
			return nil, fmt.Errorf("GGUF metadata entry %d: %w", i, r.err)
		}
		if key == "" {
			return nil, fmt.Errorf("GGUF metadata entry %d has an empty key", i)
		}
		if _, dup := g.Metadata[key]; dup {
			return nil, fmt.Errorf("GGUF metadata key %q appears twice", key)
		}
		v := r.value(GGUFValueType(r.u32()), true)
		if r.err != nil {
			return nil, fmt.Errorf("GGUF metadata %q: %w", key, r.err)
		}
		g.Keys = append(g.Keys, key)
		g.Metadata[key] = v
	}
	g.Alignment = 32
	if v, ok := g.Metadata["general.alignment"]; ok {
		a, isU32 := v.Value.(uint32)
		if !isU32 || a == 0 || a&(a-1) != 0 || a > MaxGGUFAlignment {
			return nil, fmt.Errorf("GGUF general.alignment is %v (%s); want a UINT32 power of two up to %d", v.Value, v.Type, MaxGGUFAlignment)
		}
		g.Alignment = int64(a)
	}

	names := map[string]bool{}
	for i := 0; i < nTensors; i++ {
		t := GGUFTensorInfo{Name: r.str("tensor name")}
		nDims := r.u32()
		if r.err == nil && (nDims < 1 || nDims > MaxGGUFDims) {
			r.fail("tensor %q has %d dimensions (want 1 to %d)", t.Name, nDims, MaxGGUFDims)
		}
		for d := uint32(0); d < nDims && r.err == nil; d++ {
			t.Ne = append(t.Ne, int64(r.u64()))
		}
		t.Type = GGMLType(r.u32())
		t.Offset = int64(r.u64())
		if r.err != nil {
			return nil, fmt.Errorf("GGUF tensor entry %d: %w", i, r.err)
		}
		if err := checkGGUFTensor(&t, g.Alignment); err != nil {
			return nil, err
		}
		if names[t.Name] {
			return nil, fmt.Errorf("GGUF tensor %q appears twice in the tensor table", t.Name)
		}
		names[t.Name] = true
		g.Tensors = append(g.Tensors, t)
	}
	g.DataStart = alignUp(int64(r.off), g.Alignment)
	if g.DataStart > int64(len(file)) {
		if nTensors == 0 {
			g.DataStart = int64(len(file))
		} else {
			return nil, fmt.Errorf("GGUF data section would start at byte %d, past the end of the %d-byte file: truncated file", g.DataStart, len(file))
		}
	}
	if err := checkGGUFLayout(g.Tensors, int64(len(file))-g.DataStart); err != nil {
		return nil, err
	}
	return g, nil
}

// value reads one metadata value of type t (arrays only at the top level:
// GGUF readers, llama.cpp's included, reject nested arrays).
func (r *ggufReader) value(t GGUFValueType, top bool) GGUFValue {
	v := GGUFValue{Type: t}
	switch t {
	case GGUFUint8:
		v.Value = r.u8()
	case GGUFInt8:
		v.Value = int8(r.u8())
	case GGUFUint16:
		v.Value = r.u16()
	case GGUFInt16:
		v.Value = int16(r.u16())
	case GGUFUint32:
		v.Value = r.u32()
	case GGUFInt32:
		v.Value = int32(r.u32())
	case GGUFFloat32:
		v.Value = math.Float32frombits(r.u32())
	case GGUFBool:
		b := r.u8()
		if b > 1 {
			r.fail("bool value %d (want 0 or 1)", b)
		}
		v.Value = b == 1
	case GGUFString:
		v.Value = r.str("string")
	case GGUFUint64:
		v.Value = r.u64()
	case GGUFInt64:
		v.Value = int64(r.u64())
	case GGUFFloat64:
		v.Value = math.Float64frombits(r.u64())
	case GGUFArray:
		if !top {
			r.fail("nested arrays are not supported")
			return v
		}
		v.ElemType = GGUFValueType(r.u32())
		if r.err == nil && (v.ElemType > GGUFFloat64 || v.ElemType == GGUFArray) {
			r.fail("array of unknown or unsupported element type %d", uint32(v.ElemType))
			return v
		}
		minBytes := v.ElemType.size()
		if v.ElemType == GGUFString {
			minBytes = 8 // the length
		}
		n := r.count("array length", MaxGGUFArrayLen, minBytes)
		if r.err != nil {
			return v
		}
		v.Value = r.array(v.ElemType, n)
	default:
		r.fail("unknown value type %d", uint32(t))
	}
	return v
}

// array reads n elements of type t into a typed slice. n was checked
// against the bytes left.
func (r *ggufReader) array(t GGUFValueType, n int) any {
	fixed := func(size int) []byte { return r.take(n * size) }
	switch t {
	case GGUFString:
		out := make([]string, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			out = append(out, r.str("string"))
		}
		return out
	case GGUFUint8:
		return append([]uint8(nil), fixed(1)...)
	case GGUFInt8:
		b := fixed(1)
		out := make([]int8, len(b))
		for i, x := range b {
			out[i] = int8(x)
		}
		return out
	case GGUFBool:
		b := fixed(1)
		out := make([]bool, len(b))
		for i, x := range b {
			if x > 1 {
				r.fail("bool array element %d is %d (want 0 or 1)", i, x)
			}
			out[i] = x == 1
		}
		return out
	case GGUFUint16, GGUFInt16:
		b := fixed(2)
		if t == GGUFUint16 {
			out := make([]uint16, len(b)/2)
			for i := range out {
				out[i] = binary.LittleEndian.Uint16(b[2*i:])
			}
			return out
		}
		out := make([]int16, len(b)/2)
		for i := range out {
			out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return out
	case GGUFUint32, GGUFInt32, GGUFFloat32:
		b := fixed(4)
		switch t {
		case GGUFUint32:
			out := make([]uint32, len(b)/4)
			for i := range out {
				out[i] = binary.LittleEndian.Uint32(b[4*i:])
			}
			return out
		case GGUFInt32:
			out := make([]int32, len(b)/4)
			for i := range out {
				out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
			}
			return out
		}
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out
	case GGUFUint64, GGUFInt64, GGUFFloat64:
		b := fixed(8)
		switch t {
		case GGUFUint64:
			out := make([]uint64, len(b)/8)
			for i := range out {
				out[i] = binary.LittleEndian.Uint64(b[8*i:])
			}
			return out
		case GGUFInt64:
			out := make([]int64, len(b)/8)
			for i := range out {
				out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
			}
			return out
		}
		out := make([]float64, len(b)/8)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return out
	}
	return nil
}

// checkGGUFTensor validates one table entry on its own and sets its Size.
func checkGGUFTensor(t *GGUFTensorInfo, alignment int64) error {
	if t.Name == "" || len(t.Name) >= MaxGGUFNameLen {
		return fmt.Errorf("GGUF tensor name %q: want 1 to %d bytes", t.Name, MaxGGUFNameLen-1)
	}
	info, ok := ggmlTypes[t.Type]
	if !ok {
		return fmt.Errorf("GGUF tensor %q has unknown type %d: the file is corrupt or newer than this reader", t.Name, uint32(t.Type))
	}
	elements := int64(1)
	for _, d := range t.Ne {
		if d <= 0 || d > math.MaxInt32 {
			return fmt.Errorf("GGUF tensor %q has dimensions %v: each must be between 1 and %d", t.Name, t.Ne, math.MaxInt32)
		}
		if elements > math.MaxInt64/d {
			return fmt.Errorf("GGUF tensor %q: dimensions %v overflow", t.Name, t.Ne)
		}
		elements *= d
	}
	if t.Ne[0]%int64(info.blockValues) != 0 {
		return fmt.Errorf("GGUF tensor %q: %s rows of %d values are not whole %d-value blocks", t.Name, info.name, t.Ne[0], info.blockValues)
	}
	blocks := elements / int64(info.blockValues)
	if blocks > math.MaxInt64/int64(info.blockBytes) {
		return fmt.Errorf("GGUF tensor %q: %v × %s overflows", t.Name, t.Ne, info.name)
	}
	t.Size = blocks * int64(info.blockBytes)
	if t.Offset < 0 || t.Offset%alignment != 0 {
		return fmt.Errorf("GGUF tensor %q: data offset %d is not a multiple of the %d-byte alignment", t.Name, t.Offset, alignment)
	}
	return nil
}

// checkGGUFLayout checks that every tensor lies inside the data section and
// that no two overlap. Unlike safetensors, GGUF pads between tensors.
func checkGGUFLayout(tensors []GGUFTensorInfo, dataLen int64) error {
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return tensors[order[a]].Offset < tensors[order[b]].Offset })
	var end int64
	prev := ""
	for _, i := range order {
		t := tensors[i]
		if t.Offset > dataLen || t.Size > dataLen-t.Offset {
			return fmt.Errorf("GGUF tensor %q: bytes [%d, %d) of the data section run past its end (%d bytes): truncated file", t.Name, t.Offset, t.Offset+t.Size, dataLen)
		}
		if t.Offset < end {
			return fmt.Errorf("GGUF tensor %q: bytes [%d, %d) overlap tensor %q, which ends at %d", t.Name, t.Offset, t.Offset+t.Size, prev, end)
		}
		end, prev = t.Offset+t.Size, t.Name
	}
	return nil
}

func alignUp(n, a int64) int64 { return (n + a - 1) / a * a }

// Data returns the bytes of tensor t inside file (the whole file ParseGGUF
// parsed).
func (g *GGUF) Data(file []byte, t GGUFTensorInfo) []byte {
	start := g.DataStart + t.Offset
	return file[start : start+t.Size : start+t.Size]
}

// Architecture is general.architecture ("" when absent).
func (g *GGUF) Architecture() string {
	s, _ := g.String("general.architecture")
	return s
}

// String returns a STRING value.
func (g *GGUF) String(key string) (string, bool) {
	s, ok := g.Metadata[key].Value.(string)
	return s, ok
}

// Int returns an integer value of any width. ok is false when the key is
// absent; err is set when it holds something else or does not fit an int64.
func (g *GGUF) Int(key string) (v int64, ok bool, err error) {
	val, present := g.Metadata[key]
	if !present {
		return 0, false, nil
	}
	switch x := val.Value.(type) {
	case uint8:
		return int64(x), true, nil
	case int8:
		return int64(x), true, nil
	case uint16:
		return int64(x), true, nil
	case int16:
		return int64(x), true, nil
	case uint32:
		return int64(x), true, nil
	case int32:
		return int64(x), true, nil
	case int64:
		return x, true, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, true, fmt.Errorf("%s is %d, too large", key, x)
		}
		return int64(x), true, nil
	}
	return 0, true, fmt.Errorf("%s holds a %s, want an integer", key, val.Type)
}

// Float returns a FLOAT32 or FLOAT64 value (integers are accepted too).
func (g *GGUF) Float(key string) (v float64, ok bool, err error) {
	val, present := g.Metadata[key]
	if !present {
		return 0, false, nil
	}
	switch x := val.Value.(type) {
	case float32:
		return float64(x), true, nil
	case float64:
		return x, true, nil
	}
	if i, ok, err := g.Int(key); err == nil {
		return float64(i), ok, nil
	}
	return 0, true, fmt.Errorf("%s holds a %s, want a number", key, val.Type)
}

// Bool returns a BOOL value.
func (g *GGUF) Bool(key string) (v, ok bool) {
	v, ok = g.Metadata[key].Value.(bool)
	return v, ok
}

// Strings returns an ARRAY of STRING.
func (g *GGUF) Strings(key string) ([]string, bool) {
	s, ok := g.Metadata[key].Value.([]string)
	return s, ok
}

// Float32s returns an ARRAY of FLOAT32.
func (g *GGUF) Float32s(key string) ([]float32, bool) {
	s, ok := g.Metadata[key].Value.([]float32)
	return s, ok
}

// Ints returns an ARRAY of any integer type widened to int.
func (g *GGUF) Ints(key string) ([]int, bool) {
	val, present := g.Metadata[key]
	if !present || val.Type != GGUFArray {
		return nil, false
	}
	var out []int
	switch a := val.Value.(type) {
	case []int32:
		out = make([]int, len(a))
		for i, x := range a {
			out[i] = int(x)
		}
	case []uint32:
		out = make([]int, len(a))
		for i, x := range a {
			out[i] = int(x)
		}
	case []int8:
		out = make([]int, len(a))
		for i, x := range a {
			out[i] = int(x)
		}
	case []uint8:
		out = make([]int, len(a))
		for i, x := range a {
			out[i] = int(x)
		}
	case []int16:
		out = make([]int, len(a))
		for i, x := range a {
			out[i] = int(x)
		}
	case []uint16:
		out = make([]int, len(a))
		for i, x := range a {
			out[i] = int(x)
		}
	case []int64:
		out = make([]int, len(a))
		for i, x := range a {
			out[i] = int(x)
		}
	default:
		return nil, false
	}
	return out, true
}

// FileTypeName names general.file_type as llama.cpp's llama_model_ftype
// does ("Q4_K_M", ...), or "" when absent or unknown.
func (g *GGUF) FileTypeName() string {
	ft, ok, err := g.Int("general.file_type")
	if !ok || err != nil {
		return ""
	}
	names := map[int64]string{
		0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
		10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
		16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
		22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
		28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4",
	}
	return names[ft]
}

// IsGGUFPath reports whether path names a GGUF file by its extension.
func IsGGUFPath(path string) bool { return strings.HasSuffix(strings.ToLower(path), ".gguf") }
