package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// MaxHeaderBytes caps a safetensors JSON header (the Hugging Face reference
// implementation uses the same 100 MB limit), so a corrupt length cannot make
// the loader allocate or scan gigabytes.
const MaxHeaderBytes = 100_000_000

// Header is a parsed and validated safetensors header.
type Header struct {
	// Metadata is the optional "__metadata__" string map.
	Metadata map[string]string
	// Tensors are in data order: Begin ascending, each starting where the
	// previous one ends.
	Tensors []TensorInfo
	// DataStart is the file offset of the data section (8 + header length);
	// tensor offsets are relative to it.
	DataStart int64
}

// TensorInfo is one header entry.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are byte offsets into the data section ([Begin, End)).
	Begin, End int64
}

// rawTensorInfo mirrors a header entry; pointers tell absent from zero.
type rawTensorInfo struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// ParseHeader parses and validates the header of a safetensors file whose
// complete contents are file. It checks the header length against the file
// size and MaxHeaderBytes, the JSON, every entry's dtype, shape and offsets
// (inside the data section, byte length = elements × dtype size), and that
// the entries tile the data section exactly: ordered, with no overlap and no
// unindexed bytes. It accepts dtypes the loader cannot use (I8, ...) so the
// caller can name the tensor when it rejects them; unknown dtypes are errors.
// Errors name the tensor and what was expected; the caller adds the file.
func ParseHeader(file []byte) (*Header, error) {
	if len(file) < 8 {
		return nil, fmt.Errorf("file is %d bytes, shorter than the 8-byte header length: truncated or not a safetensors file", len(file))
	}
	n := binary.LittleEndian.Uint64(file[:8])
	if n > MaxHeaderBytes {
		return nil, fmt.Errorf("header length %d exceeds the %d-byte cap: corrupt or not a safetensors file", n, MaxHeaderBytes)
	}
	if n > uint64(len(file)-8) {
		return nil, fmt.Errorf("header length %d runs past the end of the file (%d bytes): truncated file", n, len(file))
	}
	raw := file[8 : 8+n]
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errors.New("header does not start with '{': not a safetensors file")
	}
	h := &Header{DataStart: int64(8 + n)}
	dataLen := int64(len(file)) - h.DataStart

	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // the opening '{', checked above
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("header JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("header JSON: want a tensor name, got %v", tok)
		}
		if seen[name] {
			return nil, fmt.Errorf("tensor %q appears twice in the header", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&h.Metadata); err != nil {
				return nil, fmt.Errorf("header JSON: __metadata__: want an object of strings: %w", err)
			}
			continue
		}
		var r rawTensorInfo
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("header JSON: entry %q: want {dtype, shape, data_offsets}: %w", name, err)
		}
		info, err := checkEntry(name, r, dataLen)
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, info)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the header object")
		}
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	if err := checkTiling(h.Tensors, dataLen); err != nil {
		return nil, err
	}
	return h, nil
}

// checkEntry validates one header entry against the data section length.
func checkEntry(name string, r rawTensorInfo, dataLen int64) (TensorInfo, error) {
	info := TensorInfo{Name: name}
	if r.DType == nil {
		return info, fmt.Errorf("tensor %q: header entry has no dtype", name)
	}
	info.DType = DType(*r.DType)
	size := info.DType.Size()
	if size == 0 {
		return info, fmt.Errorf("tensor %q: dtype %q is not supported (supported: F32, F16, BF16)", name, *r.DType)
	}
	if r.Shape == nil {
		return info, fmt.Errorf("tensor %q: header entry has no shape", name)
	}
	elements := int64(1)
	for _, d := range *r.Shape {
		if d < 0 || d > math.MaxInt32 {
			return info, fmt.Errorf("tensor %q: shape %v has an invalid dimension %d", name, *r.Shape, d)
		}
		if d != 0 && elements > math.MaxInt64/d {
			return info, fmt.Errorf("tensor %q: shape %v overflows", name, *r.Shape)
		}
		elements *= d
		info.Shape = append(info.Shape, int(d))
	}
	if info.Shape == nil {
		info.Shape = []int{}
	}
	if r.DataOffsets == nil || len(*r.DataOffsets) != 2 {
		return info, fmt.Errorf("tensor %q: data_offsets must be [begin, end]", name)
	}
	info.Begin, info.End = (*r.DataOffsets)[0], (*r.DataOffsets)[1]
	if info.Begin < 0 || info.End < info.Begin {
		return info, fmt.Errorf("tensor %q: data_offsets [%d, %d] are not ordered (want 0 ≤ begin ≤ end)", name, info.Begin, info.End)
	}
	if info.End > dataLen {
		return info, fmt.Errorf("tensor %q: data_offsets [%d, %d] run past the data section (%d bytes): truncated file", name, info.Begin, info.End, dataLen)
	}
	if elements > math.MaxInt64/int64(size) || elements*int64(size) != info.End-info.Begin {
		return info, fmt.Errorf("tensor %q: %s shape %v needs %d × %d bytes, but data_offsets [%d, %d] hold %d bytes",
			name, info.DType, info.Shape, elements, size, info.Begin, info.End, info.End-info.Begin)
	}
	return info, nil
}

// checkTiling sorts the entries into data order and checks that they cover
// the data section exactly once, as the safetensors format requires.
func checkTiling(tensors []TensorInfo, dataLen int64) error {
	sort.SliceStable(tensors, func(i, j int) bool {
		if tensors[i].Begin != tensors[j].Begin {
			return tensors[i].Begin < tensors[j].Begin
		}
		return tensors[i].End < tensors[j].End
	})
	var next int64
	prev := "the start of the data section"
	for _, t := range tensors {
		switch {
		case t.Begin < next:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap %s (which ends at %d)", t.Name, t.Begin, t.End, prev, next)
		case t.Begin > next:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] leave bytes %d-%d after %s unindexed (want begin %d)", t.Name, t.Begin, t.End, next, t.Begin, prev, next)
		}
		next = t.End
		prev = fmt.Sprintf("tensor %q", t.Name)
	}
	if next != dataLen {
		return fmt.Errorf("data section is %d bytes but the tensors end at %d: %d bytes unindexed after %s", dataLen, next, dataLen-next, prev)
	}
	return nil
}
