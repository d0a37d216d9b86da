package model

import (
	"fmt"
	"unsafe"
)

// Tensor is one weight tensor in its stored precision. Data holds the raw
// little-endian elements and, for a loaded model, aliases the read-only
// memory map: never write to it, and do not use it after Model.Close.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
	// FusedFrom names the fused tensor this is a row view of (Phi-3's
	// qkv_proj and gate_up_proj), or "" for a tensor stored on its own.
	FusedFrom string
}

// Elements is the number of elements (the product of Shape).
func (t *Tensor) Elements() int { return int(shapeElements(t.Shape)) }

// Rows returns a zero-copy view of rows [start, start+count) of a tensor
// whose first dimension is its rows. The view shares Data and keeps the
// remaining dimensions.
func (t *Tensor) Rows(start, count int) (*Tensor, error) {
	if len(t.Shape) == 0 {
		return nil, fmt.Errorf("tensor %s: a scalar has no rows", t.Name)
	}
	if start < 0 || count < 0 || start+count > t.Shape[0] {
		return nil, fmt.Errorf("tensor %s: rows [%d, %d) are outside its %d rows", t.Name, start, start+count, t.Shape[0])
	}
	rowBytes := len(t.Data)
	if t.Shape[0] > 0 {
		rowBytes /= t.Shape[0]
	}
	shape := append([]int{count}, t.Shape[1:]...)
	lo, hi := start*rowBytes, (start+count)*rowBytes
	return &Tensor{Name: t.Name, DType: t.DType, Shape: shape, Data: t.Data[lo:hi:hi], FusedFrom: t.FusedFrom}, nil
}

// Float32s widens the tensor into a new float32 slice. Meant for small
// tensors (norms, biases); matmul kernels should read Data in place.
func (t *Tensor) Float32s() ([]float32, error) {
	out := make([]float32, t.Elements())
	if err := DecodeFloat32s(out, t.DType, t.Data); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	return out, nil
}

// Float32View returns Data as []float32 without copying, when the tensor is
// F32 and its data is 4-byte aligned (it is in files written by Hugging Face
// or by Writer). The host must be little-endian, as all supported ones are.
func (t *Tensor) Float32View() ([]float32, bool) {
	if t.DType != F32 || !aligned(t.Data, 4) {
		return nil, false
	}
	if len(t.Data) == 0 {
		return []float32{}, true
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&t.Data[0])), len(t.Data)/4), true
}

// Uint16View returns Data as the raw 16-bit elements of a BF16 or F16 tensor
// without copying, when the data is 2-byte aligned. Widen elements with
// BF16ToFloat32 or F16ToFloat32.
func (t *Tensor) Uint16View() ([]uint16, bool) {
	if (t.DType != BF16 && t.DType != F16) || !aligned(t.Data, 2) {
		return nil, false
	}
	if len(t.Data) == 0 {
		return []uint16{}, true
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&t.Data[0])), len(t.Data)/2), true
}

func aligned(b []byte, n uintptr) bool {
	return len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%n == 0
}
