package compute

import (
	"math"
	"unsafe"
)

// BF16ToF32 widens one bfloat16 (its bits) to float32.
func BF16ToF32(u uint16) float32 { return math.Float32frombits(uint32(u) << 16) }

// F16ToF32 widens one IEEE half (its bits) to float32, subnormals included.
func F16ToF32(u uint16) float32 {
	sign := uint32(u>>15) << 31
	exp := uint32(u>>10) & 0x1f
	mant := uint32(u) & 0x3ff
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: value is mant·2^-24.
	f := float32(mant) * (1.0 / (1 << 24))
	if sign != 0 {
		f = -f
	}
	return f
}

// u16s views little-endian 2-byte elements as uint16s without copying. The
// caller guarantees 2-byte alignment (see Aligned).
func u16s(b []byte) []uint16 {
	if len(b) < 2 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2)
}

// f32s views little-endian 4-byte elements as float32s without copying.
func f32s(b []byte) []float32 {
	if len(b) < 4 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// Aligned reports whether m's data can be viewed in place as its element type.
// Safetensors data is normally aligned; a Matrix that is not must be copied
// (see Realign) before use.
func Aligned(m Matrix) bool {
	if len(m.Data) == 0 {
		return true
	}
	return uintptr(unsafe.Pointer(&m.Data[0]))%uintptr(max(1, m.DType.Size())) == 0
}

// Realign returns m itself when it is aligned, else a copy of it in freshly
// allocated (hence aligned) memory.
func Realign(m Matrix) Matrix {
	if Aligned(m) {
		return m
	}
	buf := make([]uint64, (len(m.Data)+7)/8)
	data := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(m.Data))
	copy(data, m.Data)
	m.Data = data
	return m
}

// WidenRow writes row r of m into dst (len m.Cols) as float32, decoding
// the blocks of a quantized row.
func WidenRow(dst []float32, m Matrix, r int) {
	if m.DType.Quantized() {
		rb := m.DType.RowBytes(m.Cols)
		DequantizeRow(dst[:m.Cols], m.DType, m.Data[r*rb:(r+1)*rb])
		return
	}
	widenRange(dst, m, r*m.Cols, m.Cols)
}

// widenRange widens elements [off, off+n) of m's data into dst.
func widenRange(dst []float32, m Matrix, off, n int) {
	switch m.DType {
	case F32:
		copy(dst[:n], f32s(m.Data)[off:off+n])
	case BF16:
		widenBF16(dst[:n], u16s(m.Data)[off:off+n])
	case F16:
		widenF16(dst[:n], u16s(m.Data)[off:off+n])
	}
}

// ToF32 widens a whole matrix (or vector) to a new float32 slice. It is for
// small tensors (norm weights, biases) that the engine keeps in f32.
func ToF32(m Matrix) []float32 {
	out := make([]float32, m.Rows*m.Cols)
	if m.DType.Quantized() {
		for r := range m.Rows {
			WidenRow(out[r*m.Cols:(r+1)*m.Cols], m, r)
		}
		return out
	}
	widenRange(out, Realign(m), 0, len(out))
	return out
}

// Moments summarises x for activation statistics: Σx, Σx², max |x| and how
// many elements have |x| < small. It uses the SIMD kernels where available.
func Moments(x []float32, small float32) (sum, sumSq float64, maxAbs float32, below int) {
	return moments(x, small)
}

// ExpShift sets x[i] = e^(x[i]-m) and returns the sum, with the SIMD exp
// where available (about 1e-7 relative error). Use it instead of a math.Exp
// loop in hot code: see CleanUpper.
func ExpShift(x []float32, m float32) float32 { return expSub(x, m) }

// CleanUpper clears the upper halves of the AVX registers (VZEROUPPER) on
// amd64 builds with GOEXPERIMENT=simd, and does nothing elsewhere. Call it
// before a scalar loop over math.Exp: with GOEXPERIMENT=simd the Go 1.26
// runtime can leave the upper state dirty after an async preemption, which
// makes math.Exp about 100x slower until the next VZEROUPPER.
func CleanUpper() { cleanUpper() }
