package model

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DType is a safetensors element type, spelled as in the file header
// ("F32", "BF16", ...). Only F32, F16 and BF16 are supported for model
// weights; the others are known so that files holding them can be parsed,
// checked and rejected with a clear error.
type DType string

// The safetensors element types.
const (
	F32     DType = "F32"
	F16     DType = "F16"
	BF16    DType = "BF16"
	F64     DType = "F64"
	I64     DType = "I64"
	U64     DType = "U64"
	I32     DType = "I32"
	U32     DType = "U32"
	I16     DType = "I16"
	U16     DType = "U16"
	I8      DType = "I8"
	U8      DType = "U8"
	BOOL    DType = "BOOL"
	F8E4M3  DType = "F8_E4M3"
	F8E5M2  DType = "F8_E5M2"
	F8E8M0  DType = "F8_E8M0"
	F4      DType = "F4"
	F6E2M3  DType = "F6_E2M3"
	F6E3M2  DType = "F6_E3M2"
	Unknown DType = ""
)

// Size is the width of one element in bytes, or 0 for a type whose elements
// are not whole bytes or that is unknown.
func (d DType) Size() int {
	switch d {
	case F64, I64, U64:
		return 8
	case F32, I32, U32:
		return 4
	case F16, BF16, I16, U16:
		return 2
	case I8, U8, BOOL, F8E4M3, F8E5M2, F8E8M0:
		return 1
	}
	return 0
}

// Supported reports whether weights of this type can be loaded.
func (d DType) Supported() bool { return d == F32 || d == F16 || d == BF16 }

// TorchName is the name config.json uses for the type ("bfloat16", ...).
func (d DType) TorchName() string {
	switch d {
	case F32:
		return "float32"
	case F16:
		return "float16"
	case BF16:
		return "bfloat16"
	}
	return string(d)
}

// dtypeFromTorch maps config.json's torch_dtype / dtype value to a DType.
func dtypeFromTorch(s string) (DType, error) {
	switch s {
	case "float32", "float":
		return F32, nil
	case "float16", "half":
		return F16, nil
	case "bfloat16":
		return BF16, nil
	}
	return Unknown, fmt.Errorf("dtype %q is not supported (supported: float32, float16, bfloat16)", s)
}

// BF16ToFloat32 widens one bfloat16 value (its bits) to float32. The
// conversion is exact.
func BF16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// Float32ToBF16 narrows a float32 to bfloat16 bits, rounding to nearest with
// ties to even. NaNs stay NaN (quiet); values beyond the bfloat16 range become
// ±Inf.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep the sign, force a quiet NaN
		return uint16(b>>16) | 0x0040
	}
	rounding := uint32(0x7fff) + (b>>16)&1
	return uint16((b + rounding) >> 16)
}

// F16ToFloat32 widens one IEEE 754 half-precision value (its bits) to float32.
// The conversion is exact, subnormals included.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise into a float32 normal
		e := int32(-14)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | uint32(e+127)<<23 | mant<<13)
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32ToF16 narrows a float32 to IEEE 754 half-precision bits, rounding to
// nearest with ties to even. Values beyond ±65504 (after rounding) become
// ±Inf; tiny values become half subnormals or ±0; NaNs become a quiet NaN.
func Float32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // the half's biased exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// The result is a half subnormal (or zero): its mantissa counts units
		// of 2^-24, which is the float32 significand shifted right by 14-e.
		shift := uint32(14 - e)
		if shift > 24 {
			return sign
		}
		m := mant | 0x800000
		r := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++ // may carry into the smallest normal, which encodes correctly
		}
		return sign | uint16(r)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // a carry into the exponent is correct, up to Inf
	}
	return sign | uint16(h)
}

// DecodeFloat32s widens little-endian elements of type dt from src into dst,
// which must hold exactly len(src)/dt.Size() values.
func DecodeFloat32s(dst []float32, dt DType, src []byte) error {
	if !dt.Supported() {
		return fmt.Errorf("decode %s: not supported (supported: F32, F16, BF16)", dt)
	}
	if len(src) != len(dst)*dt.Size() {
		return fmt.Errorf("decode %s: %d bytes for %d values, want %d bytes", dt, len(src), len(dst), len(dst)*dt.Size())
	}
	switch dt {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	}
	return nil
}

// EncodeFloat32s narrows values to type dt (F32, F16 or BF16) as
// little-endian bytes, the layout safetensors stores.
func EncodeFloat32s(dt DType, values []float32) ([]byte, error) {
	if !dt.Supported() {
		return nil, fmt.Errorf("encode %s: not supported (supported: F32, F16, BF16)", dt)
	}
	out := make([]byte, len(values)*dt.Size())
	switch dt {
	case F32:
		for i, v := range values {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case BF16:
		for i, v := range values {
			binary.LittleEndian.PutUint16(out[2*i:], Float32ToBF16(v))
		}
	case F16:
		for i, v := range values {
			binary.LittleEndian.PutUint16(out[2*i:], Float32ToF16(v))
		}
	}
	return out, nil
}
