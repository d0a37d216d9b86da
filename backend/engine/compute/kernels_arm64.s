// NEON kernels for arm64 (Advanced SIMD is part of every ARMv8-A core, so
// there is no feature check). Each kernel handles the vector part of its
// input only: n is a multiple of 4 (8 for the widening kernels), and the Go
// wrapper in kernels_arm64.go adds the scalar tail.
//
// Go's assembler has no mnemonics for the vector floating-point arithmetic
// (FADD, FADDP, FMUL, FDIV, FMAX, FMIN, FNEG, FRINTN, FCVTZS, FCVTL), so
// those are WORD encodings; each carries its GNU mnemonic, which
// TestARM64WordEncodings (asmwords_test.go) assembles with
// aarch64-linux-gnu-as to compare. Go syntax puts the destination
// last: VFMLA Vm, Vn, Vd is Vd += Vn·Vm, fused.

#include "textflag.h"

// Reductions shared by the dot kernels.

// V16 = V16+V17+V18+V19 summed across lanes, into F0.
#define SUM4ACC_F0 \
	WORD $0x4e31d610 /* fadd  v16.4s, v16.4s, v17.4s */ \
	WORD $0x4e33d652 /* fadd  v18.4s, v18.4s, v19.4s */ \
	WORD $0x4e32d610 /* fadd  v16.4s, v16.4s, v18.4s */ \
	WORD $0x6e30d610 /* faddp v16.4s, v16.4s, v16.4s */ \
	WORD $0x7e30da00 /* faddp s0, v16.2s */

// Rows r=0..3 in V16+r (lanes 0-3) and V20+r (lanes 4-7): V16 = the four row sums.
#define ROWSUMS_V16 \
	WORD $0x4e34d610 /* fadd  v16.4s, v16.4s, v20.4s */ \
	WORD $0x4e35d631 /* fadd  v17.4s, v17.4s, v21.4s */ \
	WORD $0x4e36d652 /* fadd  v18.4s, v18.4s, v22.4s */ \
	WORD $0x4e37d673 /* fadd  v19.4s, v19.4s, v23.4s */ \
	WORD $0x6e31d610 /* faddp v16.4s, v16.4s, v17.4s */ \
	WORD $0x6e33d652 /* faddp v18.4s, v18.4s, v19.4s */ \
	WORD $0x6e32d610 /* faddp v16.4s, v16.4s, v18.4s */

// The same for rows in V24+r and V28+r, into V17.
#define ROWSUMS_V17 \
	WORD $0x4e3cd718 /* fadd  v24.4s, v24.4s, v28.4s */ \
	WORD $0x4e3dd739 /* fadd  v25.4s, v25.4s, v29.4s */ \
	WORD $0x4e3ed75a /* fadd  v26.4s, v26.4s, v30.4s */ \
	WORD $0x4e3fd77b /* fadd  v27.4s, v27.4s, v31.4s */ \
	WORD $0x6e39d718 /* faddp v24.4s, v24.4s, v25.4s */ \
	WORD $0x6e3bd75a /* faddp v26.4s, v26.4s, v27.4s */ \
	WORD $0x6e3ad711 /* faddp v17.4s, v24.4s, v26.4s */

#define ZERO(r) VEOR r.B16, r.B16, r.B16

// func dotF32NEON(a, b *float32, n int) float32
// Four accumulators of 4 lanes: lane l of accumulator k sums the elements
// i ≡ 4k+l (mod 16), so 16 independent FMA chains hide the FMA latency.
TEXT ·dotF32NEON(SB), NOSPLIT, $0-28
	MOVD a+0(FP), R0
	MOVD b+8(FP), R1
	MOVD n+16(FP), R2
	ZERO(V16); ZERO(V17); ZERO(V18); ZERO(V19)
	CMP  $16, R2
	BLT  f32tail
f32loop16:
	VLD1.P 64(R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P 64(R1), [V4.S4, V5.S4, V6.S4, V7.S4]
	VFMLA  V4.S4, V0.S4, V16.S4
	VFMLA  V5.S4, V1.S4, V17.S4
	VFMLA  V6.S4, V2.S4, V18.S4
	VFMLA  V7.S4, V3.S4, V19.S4
	SUB    $16, R2
	CMP    $16, R2
	BGE    f32loop16
f32tail:
	CBZ    R2, f32done
f32loop4:
	VLD1.P 16(R0), [V0.S4]
	VLD1.P 16(R1), [V4.S4]
	VFMLA  V4.S4, V0.S4, V16.S4
	SUBS   $4, R2
	BNE    f32loop4
f32done:
	SUM4ACC_F0
	FMOVS F0, ret+24(FP)
	RET

// func dotBF16NEON(w *uint16, x *float32, n int) float32
// dotF32NEON with bfloat16 weights widened in registers: a bfloat16 is the
// top half of a float32, so ZIP1/ZIP2 with zeros (V31) widen it exactly.
TEXT ·dotBF16NEON(SB), NOSPLIT, $0-28
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD n+16(FP), R2
	ZERO(V16); ZERO(V17); ZERO(V18); ZERO(V19); ZERO(V31)
	CMP  $16, R2
	BLT  bf16tail
bf16loop16:
	VLD1.P  32(R0), [V0.H8, V1.H8]
	VLD1.P  64(R1), [V4.S4, V5.S4, V6.S4, V7.S4]
	VZIP1   V0.H8, V31.H8, V2.H8
	VZIP2   V0.H8, V31.H8, V3.H8
	VFMLA   V4.S4, V2.S4, V16.S4
	VFMLA   V5.S4, V3.S4, V17.S4
	VZIP1   V1.H8, V31.H8, V2.H8
	VZIP2   V1.H8, V31.H8, V3.H8
	VFMLA   V6.S4, V2.S4, V18.S4
	VFMLA   V7.S4, V3.S4, V19.S4
	SUB     $16, R2
	CMP     $16, R2
	BGE     bf16loop16
bf16tail:
	CBZ     R2, bf16done
bf16loop4:
	VLD1.P  8(R0), [V0.H4]
	VLD1.P  16(R1), [V4.S4]
	VZIP1   V0.H8, V31.H8, V2.H8
	VFMLA   V4.S4, V2.S4, V16.S4
	SUBS    $4, R2
	BNE     bf16loop4
bf16done:
	SUM4ACC_F0
	FMOVS F0, ret+24(FP)
	RET

// func dotF32x4NEON(out *[4]float32, w0, w1, w2, w3, x *float32, n int)
// Four rows against one x, two accumulators per row (8 FMA chains); each x
// vector is loaded once for four rows.
TEXT ·dotF32x4NEON(SB), NOSPLIT, $0-56
	MOVD out+0(FP), R0
	MOVD w0+8(FP), R1
	MOVD w1+16(FP), R2
	MOVD w2+24(FP), R3
	MOVD w3+32(FP), R4
	MOVD x+40(FP), R5
	MOVD n+48(FP), R6
	ZERO(V16); ZERO(V17); ZERO(V18); ZERO(V19)
	ZERO(V20); ZERO(V21); ZERO(V22); ZERO(V23)
	CMP  $8, R6
	BLT  f32x4tail
f32x4loop8:
	VLD1.P 32(R5), [V8.S4, V9.S4]
	VLD1.P 32(R1), [V0.S4, V1.S4]
	VLD1.P 32(R2), [V2.S4, V3.S4]
	VLD1.P 32(R3), [V4.S4, V5.S4]
	VLD1.P 32(R4), [V6.S4, V7.S4]
	VFMLA  V8.S4, V0.S4, V16.S4
	VFMLA  V9.S4, V1.S4, V20.S4
	VFMLA  V8.S4, V2.S4, V17.S4
	VFMLA  V9.S4, V3.S4, V21.S4
	VFMLA  V8.S4, V4.S4, V18.S4
	VFMLA  V9.S4, V5.S4, V22.S4
	VFMLA  V8.S4, V6.S4, V19.S4
	VFMLA  V9.S4, V7.S4, V23.S4
	SUB    $8, R6
	CMP    $8, R6
	BGE    f32x4loop8
f32x4tail:
	CBZ    R6, f32x4done
	VLD1.P 16(R5), [V8.S4]
	VLD1.P 16(R1), [V0.S4]
	VLD1.P 16(R2), [V2.S4]
	VLD1.P 16(R3), [V4.S4]
	VLD1.P 16(R4), [V6.S4]
	VFMLA  V8.S4, V0.S4, V16.S4
	VFMLA  V8.S4, V2.S4, V17.S4
	VFMLA  V8.S4, V4.S4, V18.S4
	VFMLA  V8.S4, V6.S4, V19.S4
f32x4done:
	ROWSUMS_V16
	VST1 [V16.S4], (R0)
	RET

// func dotBF16x4NEON(out *[4]float32, w0, w1, w2, w3 *uint16, x *float32, n int)
// dotF32x4NEON with bfloat16 rows, widened in registers.
TEXT ·dotBF16x4NEON(SB), NOSPLIT, $0-56
	MOVD out+0(FP), R0
	MOVD w0+8(FP), R1
	MOVD w1+16(FP), R2
	MOVD w2+24(FP), R3
	MOVD w3+32(FP), R4
	MOVD x+40(FP), R5
	MOVD n+48(FP), R6
	ZERO(V16); ZERO(V17); ZERO(V18); ZERO(V19)
	ZERO(V20); ZERO(V21); ZERO(V22); ZERO(V23); ZERO(V31)
	CMP  $8, R6
	BLT  bf16x4tail
bf16x4loop8:
	VLD1.P  32(R5), [V8.S4, V9.S4]
	VLD1.P  16(R1), [V0.H8]
	VLD1.P  16(R2), [V2.H8]
	VLD1.P  16(R3), [V4.H8]
	VLD1.P  16(R4), [V6.H8]
	VZIP1   V0.H8, V31.H8, V1.H8
	VZIP2   V0.H8, V31.H8, V0.H8
	VZIP1   V2.H8, V31.H8, V3.H8
	VZIP2   V2.H8, V31.H8, V2.H8
	VZIP1   V4.H8, V31.H8, V5.H8
	VZIP2   V4.H8, V31.H8, V4.H8
	VZIP1   V6.H8, V31.H8, V7.H8
	VZIP2   V6.H8, V31.H8, V6.H8
	VFMLA   V8.S4, V1.S4, V16.S4
	VFMLA   V9.S4, V0.S4, V20.S4
	VFMLA   V8.S4, V3.S4, V17.S4
	VFMLA   V9.S4, V2.S4, V21.S4
	VFMLA   V8.S4, V5.S4, V18.S4
	VFMLA   V9.S4, V4.S4, V22.S4
	VFMLA   V8.S4, V7.S4, V19.S4
	VFMLA   V9.S4, V6.S4, V23.S4
	SUB     $8, R6
	CMP     $8, R6
	BGE     bf16x4loop8
bf16x4tail:
	CBZ     R6, bf16x4done
	VLD1.P  16(R5), [V8.S4]
	VLD1.P  8(R1), [V0.H4]
	VLD1.P  8(R2), [V2.H4]
	VLD1.P  8(R3), [V4.H4]
	VLD1.P  8(R4), [V6.H4]
	VZIP1   V0.H8, V31.H8, V1.H8
	VZIP1   V2.H8, V31.H8, V3.H8
	VZIP1   V4.H8, V31.H8, V5.H8
	VZIP1   V6.H8, V31.H8, V7.H8
	VFMLA   V8.S4, V1.S4, V16.S4
	VFMLA   V8.S4, V3.S4, V17.S4
	VFMLA   V8.S4, V5.S4, V18.S4
	VFMLA   V8.S4, V7.S4, V19.S4
bf16x4done:
	ROWSUMS_V16
	VST1 [V16.S4], (R0)
	RET

// func dot4x2NEON(out *[8]float32, w0, w1, w2, w3, x0, x1 *float32, n int)
// The prefill micro-kernel: 4 weight rows against 2 token rows, 16
// accumulators (row r, token t, half h in V16+8t+4h+r), so every loaded
// weight vector feeds two FMAs and every token vector four, and 16 FMA
// chains keep the FMA pipes busy.
TEXT ·dot4x2NEON(SB), NOSPLIT, $0-64
	MOVD out+0(FP), R0
	MOVD w0+8(FP), R1
	MOVD w1+16(FP), R2
	MOVD w2+24(FP), R3
	MOVD w3+32(FP), R4
	MOVD x0+40(FP), R5
	MOVD x1+48(FP), R6
	MOVD n+56(FP), R7
	ZERO(V16); ZERO(V17); ZERO(V18); ZERO(V19)
	ZERO(V20); ZERO(V21); ZERO(V22); ZERO(V23)
	ZERO(V24); ZERO(V25); ZERO(V26); ZERO(V27)
	ZERO(V28); ZERO(V29); ZERO(V30); ZERO(V31)
	CMP  $8, R7
	BLT  d42tail
d42loop8:
	VLD1.P 32(R5), [V8.S4, V9.S4]
	VLD1.P 32(R6), [V10.S4, V11.S4]
	VLD1.P 32(R1), [V0.S4, V1.S4]
	VLD1.P 32(R2), [V2.S4, V3.S4]
	VLD1.P 32(R3), [V4.S4, V5.S4]
	VLD1.P 32(R4), [V6.S4, V7.S4]
	VFMLA  V8.S4, V0.S4, V16.S4
	VFMLA  V9.S4, V1.S4, V20.S4
	VFMLA  V10.S4, V0.S4, V24.S4
	VFMLA  V11.S4, V1.S4, V28.S4
	VFMLA  V8.S4, V2.S4, V17.S4
	VFMLA  V9.S4, V3.S4, V21.S4
	VFMLA  V10.S4, V2.S4, V25.S4
	VFMLA  V11.S4, V3.S4, V29.S4
	VFMLA  V8.S4, V4.S4, V18.S4
	VFMLA  V9.S4, V5.S4, V22.S4
	VFMLA  V10.S4, V4.S4, V26.S4
	VFMLA  V11.S4, V5.S4, V30.S4
	VFMLA  V8.S4, V6.S4, V19.S4
	VFMLA  V9.S4, V7.S4, V23.S4
	VFMLA  V10.S4, V6.S4, V27.S4
	VFMLA  V11.S4, V7.S4, V31.S4
	SUB    $8, R7
	CMP    $8, R7
	BGE    d42loop8
d42tail:
	CBZ    R7, d42done
	VLD1.P 16(R5), [V8.S4]
	VLD1.P 16(R6), [V10.S4]
	VLD1.P 16(R1), [V0.S4]
	VLD1.P 16(R2), [V2.S4]
	VLD1.P 16(R3), [V4.S4]
	VLD1.P 16(R4), [V6.S4]
	VFMLA  V8.S4, V0.S4, V16.S4
	VFMLA  V10.S4, V0.S4, V24.S4
	VFMLA  V8.S4, V2.S4, V17.S4
	VFMLA  V10.S4, V2.S4, V25.S4
	VFMLA  V8.S4, V4.S4, V18.S4
	VFMLA  V10.S4, V4.S4, V26.S4
	VFMLA  V8.S4, V6.S4, V19.S4
	VFMLA  V10.S4, V6.S4, V27.S4
d42done:
	ROWSUMS_V16
	ROWSUMS_V17
	VST1 [V16.S4, V17.S4], (R0)
	RET

// func axpyNEON(dst, x *float32, a float32, n int)
// dst[i] += a·x[i] with one fused multiply-add per element, as the generic
// loop compiles on arm64: the results are identical.
TEXT ·axpyNEON(SB), NOSPLIT, $0-32
	MOVD  dst+0(FP), R0
	MOVD  x+8(FP), R1
	FMOVS a+16(FP), F0
	MOVD  n+24(FP), R2
	VDUP  V0.S[0], V0.S4
	MOVD  R0, R3 // store pointer
	CMP   $16, R2
	BLT   axpytail
axpyloop16:
	VLD1.P 64(R0), [V1.S4, V2.S4, V3.S4, V4.S4]
	VLD1.P 64(R1), [V5.S4, V6.S4, V7.S4, V8.S4]
	VFMLA  V0.S4, V5.S4, V1.S4
	VFMLA  V0.S4, V6.S4, V2.S4
	VFMLA  V0.S4, V7.S4, V3.S4
	VFMLA  V0.S4, V8.S4, V4.S4
	VST1.P [V1.S4, V2.S4, V3.S4, V4.S4], 64(R3)
	SUB    $16, R2
	CMP    $16, R2
	BGE    axpyloop16
axpytail:
	CBZ    R2, axpydone
axpyloop4:
	VLD1.P 16(R0), [V1.S4]
	VLD1.P 16(R1), [V5.S4]
	VFMLA  V0.S4, V5.S4, V1.S4
	VST1.P [V1.S4], 16(R3)
	SUBS   $4, R2
	BNE    axpyloop4
axpydone:
	RET

// func widenBF16NEON(dst *float32, src *uint16, n int)
// n is a multiple of 8.
TEXT ·widenBF16NEON(SB), NOSPLIT, $0-24
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	MOVD n+16(FP), R2
	ZERO(V31)
	CBZ  R2, wbdone
wbloop:
	VLD1.P  16(R1), [V0.H8]
	VZIP1   V0.H8, V31.H8, V1.H8
	VZIP2   V0.H8, V31.H8, V2.H8
	VST1.P  [V1.S4, V2.S4], 32(R0)
	SUBS    $8, R2
	BNE     wbloop
wbdone:
	RET

// func widenF16NEON(dst *float32, src *uint16, n int)
// FCVTL widens IEEE halves exactly, subnormals included (a signalling NaN
// comes out quiet). n is a multiple of 8.
TEXT ·widenF16NEON(SB), NOSPLIT, $0-24
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	MOVD n+16(FP), R2
	CBZ  R2, whdone
whloop:
	VLD1.P 16(R1), [V0.H8]
	WORD   $0x0e217801 // fcvtl  v1.4s, v0.4h
	WORD   $0x4e217802 // fcvtl2 v2.4s, v0.8h
	VST1.P [V1.S4, V2.S4], 32(R0)
	SUBS   $8, R2
	BNE    whloop
whdone:
	RET

// Constants of the Cephes expf method, the same as the amd64 exp16 uses.
DATA expconst<>+0(SB)/4, $0xc2aeac4f  // -87.33654: smallest input (clamp)
DATA expconst<>+4(SB)/4, $0x42b0c0a5  // 88.37626: largest input (clamp)
DATA expconst<>+8(SB)/4, $0x3fb8aa3b  // log2(e)
DATA expconst<>+12(SB)/4, $0xbf318000 // -0.693359375: -ln2, high part
DATA expconst<>+16(SB)/4, $0x395e8083 // 2.12194440e-4: -ln2, low part
DATA expconst<>+20(SB)/4, $0x39506967 // 1.9875691500e-4
DATA expconst<>+24(SB)/4, $0x3ab743ce // 1.3981999507e-3
DATA expconst<>+28(SB)/4, $0x3c088908 // 8.3334519073e-3
DATA expconst<>+32(SB)/4, $0x3d2aa9c1 // 4.1665795894e-2
DATA expconst<>+36(SB)/4, $0x3e2aaaaa // 1.6666665459e-1
DATA expconst<>+40(SB)/4, $0x3f000000 // 5.0000001201e-1
DATA expconst<>+44(SB)/4, $0x3f800000 // 1
GLOBL expconst<>(SB), RODATA|NOPTR, $48

// Broadcast the 12 constants into V20 … V31.
#define LOADEXPCONST \
	MOVD    $expconst<>(SB), R4 \
	VLD1R.P 4(R4), [V20.S4] \
	VLD1R.P 4(R4), [V21.S4] \
	VLD1R.P 4(R4), [V22.S4] \
	VLD1R.P 4(R4), [V23.S4] \
	VLD1R.P 4(R4), [V24.S4] \
	VLD1R.P 4(R4), [V25.S4] \
	VLD1R.P 4(R4), [V26.S4] \
	VLD1R.P 4(R4), [V27.S4] \
	VLD1R.P 4(R4), [V28.S4] \
	VLD1R.P 4(R4), [V29.S4] \
	VLD1R.P 4(R4), [V30.S4] \
	VLD1R.P 4(R4), [V31.S4]

// V4 = e^V0 lane-wise: x = n·ln2 + r with |r| ≤ ln2/2, a degree-6
// polynomial for e^r, and n added to the exponent bits. Uses V1-V6.
#define EXP4 \
	WORD $0x4e34f400 /* fmax   v0.4s, v0.4s, v20.4s */ \
	WORD $0x4eb5f400 /* fmin   v0.4s, v0.4s, v21.4s */ \
	WORD $0x6e36dc01 /* fmul   v1.4s, v0.4s, v22.4s */ \
	WORD $0x4e218821 /* frintn v1.4s, v1.4s   (n, ties to even) */ \
	VMOV  V0.B16, V2.B16 \
	VFMLA V23.S4, V1.S4, V2.S4 /* r = x + n·(-ln2 hi) */ \
	VFMLA V24.S4, V1.S4, V2.S4 /* r += n·(ln2 lo) */ \
	VMOV  V26.B16, V3.B16 \
	VFMLA V25.S4, V2.S4, V3.S4 /* p = p0·r + p1 */ \
	VMOV  V27.B16, V4.B16 \
	VFMLA V3.S4, V2.S4, V4.S4 /* p = p·r + p2 */ \
	VMOV  V28.B16, V3.B16 \
	VFMLA V4.S4, V2.S4, V3.S4 /* p = p·r + p3 */ \
	VMOV  V29.B16, V4.B16 \
	VFMLA V3.S4, V2.S4, V4.S4 /* p = p·r + p4 */ \
	VMOV  V30.B16, V3.B16 \
	VFMLA V4.S4, V2.S4, V3.S4 /* p = p·r + p5 */ \
	WORD $0x6e22dc45 /* fmul   v5.4s, v2.4s, v2.4s   (r²) */ \
	WORD $0x4e3fd444 /* fadd   v4.4s, v2.4s, v31.4s  (r+1) */ \
	VFMLA V3.S4, V5.S4, V4.S4 /* e^r = p·r² + r + 1 */ \
	WORD $0x4ea1b826 /* fcvtzs v6.4s, v1.4s */ \
	VSHL  $23, V6.S4, V6.S4 \
	VADD  V6.S4, V4.S4, V4.S4 /* e^r · 2^n on the exponent bits */

// func expSubNEON(x *float32, m float32, n int) float32
// x[i] = e^(x[i]-m); returns their sum.
TEXT ·expSubNEON(SB), NOSPLIT, $0-28
	MOVD  x+0(FP), R0
	FMOVS m+8(FP), F19
	MOVD  n+16(FP), R2
	VDUP  V19.S[0], V19.S4
	ZERO(V18)
	LOADEXPCONST
	CBZ   R2, esdone
esloop:
	VLD1   (R0), [V0.S4]
	WORD   $0x4eb3d400 // fsub v0.4s, v0.4s, v19.4s
	EXP4
	VST1.P [V4.S4], 16(R0)
	WORD   $0x4e24d652 // fadd v18.4s, v18.4s, v4.4s
	SUBS   $4, R2
	BNE    esloop
esdone:
	WORD  $0x6e32d652 // faddp v18.4s, v18.4s, v18.4s
	WORD  $0x7e30da40 // faddp s0, v18.2s
	FMOVS F0, ret+24(FP)
	RET

// func swigluNEON(gate, up *float32, n int)
// gate[i] = gate[i] / (1 + e^-gate[i]) · up[i].
TEXT ·swigluNEON(SB), NOSPLIT, $0-24
	MOVD gate+0(FP), R0
	MOVD up+8(FP), R1
	MOVD n+16(FP), R2
	LOADEXPCONST
	CBZ  R2, sgdone
sgloop:
	VLD1   (R0), [V7.S4]
	VLD1.P 16(R1), [V8.S4]
	WORD   $0x6ea0f8e0 // fneg v0.4s, v7.4s
	EXP4
	WORD   $0x4e3fd484 // fadd v4.4s, v4.4s, v31.4s
	WORD   $0x6e24fce4 // fdiv v4.4s, v7.4s, v4.4s
	WORD   $0x6e28dc84 // fmul v4.4s, v4.4s, v8.4s
	VST1.P [V4.S4], 16(R0)
	SUBS   $4, R2
	BNE    sgloop
sgdone:
	RET
