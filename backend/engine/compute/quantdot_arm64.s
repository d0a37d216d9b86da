// Quantized dot products for arm64 with SDOT (ARMv8.2 dotprod: every
// Apple Silicon core has it; quantdot_arm64.go checks before calling).
// Each kernel takes one weight row of `blocks` GGUF blocks and the int8
// activations of qact (one float scale per block, and for the K-quants the
// sums per 32 or 16 activations), and returns Σ w·x. The arithmetic is that
// of the portable kernels in quantdot.go, block by block: the integer sums
// are exact, and only the float accumulation order differs (see
// quantdot_arm64.go). The block layouts are ggml's (ggml-common.h); the way
// of unpacking nibbles and high bits into bytes for SDOT follows ggml's arm
// kernels (ggml-cpu/arch/arm/quants.c).
//
// SDOT Vd.4S, Vn.16B, Vm.16B adds, into each 32-bit lane of Vd, the four
// products of the signed bytes in the same lane of Vn and Vm. Go's
// assembler has no mnemonic for it nor for SCVTF, FCVTL, FMUL, FADDP, MUL,
// MLA, SMULL, SMLAL and SXTL on vectors, so those are WORD encodings, each
// carrying its GNU mnemonic; TestARM64WordEncodings (asmwords_test.go)
// assembles the mnemonics with aarch64-linux-gnu-as and compares.
// Go syntax puts the destination last: VADDP Vm, Vn, Vd is Vd = pairwise
// sums of Vn (low half) then Vm (high half).

#include "textflag.h"

#define ZERO(r) VEOR r.B16, r.B16, r.B16

// V16 = [Σ V16, Σ V17, Σ V18, Σ V19] (int32 lanes).
#define SUM4_V16 \
	VADDP V17.S4, V16.S4, V16.S4 \
	VADDP V19.S4, V18.S4, V18.S4 \
	VADDP V18.S4, V16.S4, V16.S4

// Four blocks' weight scales (fp16 in R8-R11) times their activation
// scales (next four floats at R2), times the four int32 block sums in V16,
// added to the float accumulator V24.
#define SCALE4_ACC \
	WORD $0x4e21da10 /* scvtf v16.4s, v16.4s */ \
	VMOV   R8, V20.H[0] \
	VMOV   R9, V20.H[1] \
	VMOV   R10, V20.H[2] \
	VMOV   R11, V20.H[3] \
	WORD $0x0e217a94 /* fcvtl v20.4s, v20.4h */ \
	VLD1.P 16(R2), [V21.S4] \
	WORD $0x6e35de94 /* fmul v20.4s, v20.4s, v21.4s */ \
	VFMLA  V20.S4, V16.S4, V24.S4

// One block (its int32 lanes in V16, its fp16 scale in R8): the block sum
// in lane 0 and zeros elsewhere, so the lanes 1-3 of V24 get +0.
#define SCALE1_ACC \
	VADDV  V16.S4, V16 \
	WORD $0x4e21da10 /* scvtf v16.4s, v16.4s */ \
	ZERO(V20) \
	VMOV   R8, V20.H[0] \
	WORD $0x0e217a94 /* fcvtl v20.4s, v20.4h */ \
	FMOVS.P 4(R2), F21 \
	WORD $0x6e35de94 /* fmul v20.4s, v20.4s, v21.4s */ \
	VFMLA  V20.S4, V16.S4, V24.S4

// F0 = the four lanes of V24 summed.
#define SUM_V24_F0 \
	WORD $0x6e38d718 /* faddp v24.4s, v24.4s, v24.4s */ \
	WORD $0x7e30db00 /* faddp s0, v24.2s */

// func dotQ8_0SDOT(w *byte, x *int8, d *float32, blocks int) float32
// Q8_0 block (34 bytes): fp16 d, then 32 int8 weights. Four blocks per
// iteration, their sums in the four lanes of one float accumulator (lane k:
// blocks ≡ k mod 4); the last blocks%4 go to lane 0.
TEXT ·dotQ8_0SDOT(SB), NOSPLIT, $0-36
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD d+16(FP), R2
	MOVD blocks+24(FP), R3
	ZERO(V24)
	CMP  $4, R3
	BLT  q8tail
q8loop4:
	MOVHU  0(R0), R8
	MOVHU  34(R0), R9
	MOVHU  68(R0), R10
	MOVHU  102(R0), R11
	ADD    $2, R0, R4
	ADD    $36, R0, R5
	ADD    $70, R0, R6
	ADD    $104, R0, R7
	VLD1   (R4), [V0.B16, V1.B16]
	VLD1   (R5), [V2.B16, V3.B16]
	VLD1   (R6), [V8.B16, V9.B16]
	VLD1   (R7), [V10.B16, V11.B16]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	VLD1.P 64(R1), [V12.B16, V13.B16, V14.B16, V15.B16]
	ZERO(V16); ZERO(V17); ZERO(V18); ZERO(V19)
	WORD $0x4e849410 // sdot v16.4s, v0.16b, v4.16b
	WORD $0x4e859430 // sdot v16.4s, v1.16b, v5.16b
	WORD $0x4e869451 // sdot v17.4s, v2.16b, v6.16b
	WORD $0x4e879471 // sdot v17.4s, v3.16b, v7.16b
	WORD $0x4e8c9512 // sdot v18.4s, v8.16b, v12.16b
	WORD $0x4e8d9532 // sdot v18.4s, v9.16b, v13.16b
	WORD $0x4e8e9553 // sdot v19.4s, v10.16b, v14.16b
	WORD $0x4e8f9573 // sdot v19.4s, v11.16b, v15.16b
	SUM4_V16
	SCALE4_ACC
	ADD    $136, R0
	SUB    $4, R3
	CMP    $4, R3
	BGE    q8loop4
q8tail:
	CBZ    R3, q8done
q8loop1:
	MOVHU  (R0), R8
	ADD    $2, R0, R4
	VLD1   (R4), [V0.B16, V1.B16]
	VLD1.P 32(R1), [V4.B16, V5.B16]
	ZERO(V16)
	WORD $0x4e849410 // sdot v16.4s, v0.16b, v4.16b
	WORD $0x4e859430 // sdot v16.4s, v1.16b, v5.16b
	SCALE1_ACC
	ADD    $34, R0
	SUBS   $1, R3
	BNE    q8loop1
q8done:
	SUM_V24_F0
	FMOVS  F0, ret+32(FP)
	RET

// func dotQ4_0SDOT(w *byte, x *int8, d *float32, blocks int) float32
// Q4_0 block (18 bytes): fp16 d, then 16 bytes whose low nibbles are
// weights 0-15 and high nibbles weights 16-31, each q-8. The nibbles are
// unpacked to bytes and 8 subtracted before SDOT; otherwise as Q8_0.
TEXT ·dotQ4_0SDOT(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  x+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  blocks+24(FP), R3
	ZERO(V24)
	VMOVI $15, V30.B16
	VMOVI $8, V29.B16
	CMP   $4, R3
	BLT   q4tail
q4loop4:
	MOVHU  0(R0), R8
	MOVHU  18(R0), R9
	MOVHU  36(R0), R10
	MOVHU  54(R0), R11
	ADD    $2, R0, R4
	ADD    $20, R0, R5
	ADD    $38, R0, R6
	ADD    $56, R0, R7
	VLD1   (R4), [V0.B16]
	VLD1   (R5), [V1.B16]
	VLD1   (R6), [V2.B16]
	VLD1   (R7), [V3.B16]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	VLD1.P 64(R1), [V12.B16, V13.B16, V14.B16, V15.B16]
	ZERO(V16); ZERO(V17); ZERO(V18); ZERO(V19)
	VAND   V30.B16, V0.B16, V8.B16
	VUSHR  $4, V0.B16, V9.B16
	VAND   V30.B16, V1.B16, V10.B16
	VUSHR  $4, V1.B16, V11.B16
	VSUB   V29.B16, V8.B16, V8.B16
	VSUB   V29.B16, V9.B16, V9.B16
	VSUB   V29.B16, V10.B16, V10.B16
	VSUB   V29.B16, V11.B16, V11.B16
	WORD $0x4e849510 // sdot v16.4s, v8.16b, v4.16b
	WORD $0x4e859530 // sdot v16.4s, v9.16b, v5.16b
	WORD $0x4e869551 // sdot v17.4s, v10.16b, v6.16b
	WORD $0x4e879571 // sdot v17.4s, v11.16b, v7.16b
	VAND   V30.B16, V2.B16, V8.B16
	VUSHR  $4, V2.B16, V9.B16
	VAND   V30.B16, V3.B16, V10.B16
	VUSHR  $4, V3.B16, V11.B16
	VSUB   V29.B16, V8.B16, V8.B16
	VSUB   V29.B16, V9.B16, V9.B16
	VSUB   V29.B16, V10.B16, V10.B16
	VSUB   V29.B16, V11.B16, V11.B16
	WORD $0x4e8c9512 // sdot v18.4s, v8.16b, v12.16b
	WORD $0x4e8d9532 // sdot v18.4s, v9.16b, v13.16b
	WORD $0x4e8e9553 // sdot v19.4s, v10.16b, v14.16b
	WORD $0x4e8f9573 // sdot v19.4s, v11.16b, v15.16b
	SUM4_V16
	SCALE4_ACC
	ADD    $72, R0
	SUB    $4, R3
	CMP    $4, R3
	BGE    q4loop4
q4tail:
	CBZ    R3, q4done
q4loop1:
	MOVHU  (R0), R8
	ADD    $2, R0, R4
	VLD1   (R4), [V0.B16]
	VLD1.P 32(R1), [V4.B16, V5.B16]
	ZERO(V16)
	VAND   V30.B16, V0.B16, V8.B16
	VUSHR  $4, V0.B16, V9.B16
	VSUB   V29.B16, V8.B16, V8.B16
	VSUB   V29.B16, V9.B16, V9.B16
	WORD $0x4e849510 // sdot v16.4s, v8.16b, v4.16b
	WORD $0x4e859530 // sdot v16.4s, v9.16b, v5.16b
	SCALE1_ACC
	ADD    $18, R0
	SUBS   $1, R3
	BNE    q4loop1
q4done:
	SUM_V24_F0
	FMOVS  F0, ret+32(FP)
	RET

// The K-quant blocks (Q4_K, Q5_K) share their scales field and epilogue.
//
// KSCALES unpacks the 12-byte field at 4(R0) into 8 scales (V29.H8) and 8
// mins (V30.H8), as ggml's get_scale_min_k4 defines them, four at a time
// in general registers: scales 0-3 are the low 6 bits of bytes 0-3, mins
// 0-3 of bytes 4-7; scales 4-7 are the low nibbles of bytes 8-11 with the
// top 2 bits of bytes 0-3 above them, mins 4-7 the high nibbles of bytes
// 8-11 with the top 2 bits of bytes 4-7. Then V25 = mins · (sums of 32
// activations), the block's offset term, in four int32 lanes.
#define KSCALES \
	MOVWU  4(R0), R5 \
	MOVWU  8(R0), R6 \
	MOVWU  12(R0), R7 \
	ANDW   $0x3f3f3f3f, R5, R8 \
	LSRW   $6, R5, R9 \
	ANDW   $0x03030303, R9, R9 \
	ANDW   $0x0f0f0f0f, R7, R10 \
	ORRW   R9<<4, R10, R10 \
	ORR    R10<<32, R8, R8 \
	ANDW   $0x3f3f3f3f, R6, R9 \
	LSRW   $6, R6, R10 \
	ANDW   $0x03030303, R10, R10 \
	LSRW   $4, R7, R11 \
	ANDW   $0x0f0f0f0f, R11, R11 \
	ORRW   R10<<4, R11, R11 \
	ORR    R11<<32, R9, R9 \
	VMOV   R8, V28.D[0] \
	VMOV   R9, V28.D[1] \
	VUXTL  V28.B8, V29.H8 \
	VUXTL2 V28.B16, V30.H8 \
	VLD1.P 16(R3), [V26.H8] \
	WORD $0x0e7ec359 /* smull v25.4s, v26.4h, v30.4h */ \
	WORD $0x4e7e8359 /* smlal2 v25.4s, v26.8h, v30.8h */

// KDOT: SDOT of 32 weight bytes (V2, V3) and 32 activations (V4, V5) into
// the zeroed accumulator acc, and likewise V0, V1 with V6, V7 into acc+1;
// written out per sub-block pair below.

// KFINISH: the eight sub-block sums in V16-V23 times their scales, the
// mins term, and the float scales: F27 += da·(d·Σ sc·s − dmin·Σ m·S32).
#define KFINISH \
	VADDP  V17.S4, V16.S4, V16.S4 \
	VADDP  V19.S4, V18.S4, V18.S4 \
	VADDP  V21.S4, V20.S4, V20.S4 \
	VADDP  V23.S4, V22.S4, V22.S4 \
	VADDP  V18.S4, V16.S4, V16.S4 \
	VADDP  V22.S4, V20.S4, V20.S4 \
	VUXTL  V29.H4, V2.S4 \
	VUXTL2 V29.H8, V3.S4 \
	WORD $0x4ea29e10 /* mul v16.4s, v16.4s, v2.4s */ \
	WORD $0x4ea39690 /* mla v16.4s, v20.4s, v3.4s */ \
	VADDV  V16.S4, V16 \
	VADDV  V25.S4, V25 \
	VMOV   V25.S[0], V16.S[1] \
	WORD $0x4e21da10 /* scvtf v16.4s, v16.4s */ \
	MOVWU  (R0), R6 \
	VMOV   R6, V24.D[0] \
	WORD $0x0e217b18 /* fcvtl v24.4s, v24.4h */ \
	WORD $0x6e38de10 /* fmul v16.4s, v16.4s, v24.4s */ \
	VMOV   V16.S[1], V17.S[0] \
	FSUBS  F17, F16, F16 \
	FMOVS.P 4(R2), F18 \
	FMULS  F18, F16, F16 \
	FADDS  F16, F27, F27

// func dotQ4KSDOT(w *byte, x *int8, d *float32, sums *int16, blocks int) float32
// Q4_K block (144 bytes): fp16 d, dmin, 12 bytes of scales, 128 bytes of
// nibbles: byte l of chunk c (32 bytes) holds weight 64c+l (low nibble,
// sub-block 2c) and 64c+32+l (high nibble, sub-block 2c+1). sums are the
// activation sums per 32 values (qact.s32), 8 per block. blocks > 0.
TEXT ·dotQ4KSDOT(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  x+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  sums+24(FP), R3
	MOVD  blocks+32(FP), R4
	VMOVI $15, V31.B16
	ZERO(V27)
q4kloop:
	KSCALES
	ADD    $16, R0, R5
	ZERO(V16); ZERO(V17); ZERO(V18); ZERO(V19)
	ZERO(V20); ZERO(V21); ZERO(V22); ZERO(V23)
	// chunk 0: sub-blocks 0 (V16) and 1 (V17)
	VLD1.P 32(R5), [V0.B16, V1.B16]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	VAND   V31.B16, V0.B16, V2.B16
	VAND   V31.B16, V1.B16, V3.B16
	VUSHR  $4, V0.B16, V0.B16
	VUSHR  $4, V1.B16, V1.B16
	WORD $0x4e849450 // sdot v16.4s, v2.16b, v4.16b
	WORD $0x4e859470 // sdot v16.4s, v3.16b, v5.16b
	WORD $0x4e869411 // sdot v17.4s, v0.16b, v6.16b
	WORD $0x4e879431 // sdot v17.4s, v1.16b, v7.16b
	// chunk 1: sub-blocks 2 (V18) and 3 (V19)
	VLD1.P 32(R5), [V0.B16, V1.B16]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	VAND   V31.B16, V0.B16, V2.B16
	VAND   V31.B16, V1.B16, V3.B16
	VUSHR  $4, V0.B16, V0.B16
	VUSHR  $4, V1.B16, V1.B16
	WORD $0x4e849452 // sdot v18.4s, v2.16b, v4.16b
	WORD $0x4e859472 // sdot v18.4s, v3.16b, v5.16b
	WORD $0x4e869413 // sdot v19.4s, v0.16b, v6.16b
	WORD $0x4e879433 // sdot v19.4s, v1.16b, v7.16b
	// chunk 2: sub-blocks 4 (V20) and 5 (V21)
	VLD1.P 32(R5), [V0.B16, V1.B16]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	VAND   V31.B16, V0.B16, V2.B16
	VAND   V31.B16, V1.B16, V3.B16
	VUSHR  $4, V0.B16, V0.B16
	VUSHR  $4, V1.B16, V1.B16
	WORD $0x4e849454 // sdot v20.4s, v2.16b, v4.16b
	WORD $0x4e859474 // sdot v20.4s, v3.16b, v5.16b
	WORD $0x4e869415 // sdot v21.4s, v0.16b, v6.16b
	WORD $0x4e879435 // sdot v21.4s, v1.16b, v7.16b
	// chunk 3: sub-blocks 6 (V22) and 7 (V23)
	VLD1.P 32(R5), [V0.B16, V1.B16]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	VAND   V31.B16, V0.B16, V2.B16
	VAND   V31.B16, V1.B16, V3.B16
	VUSHR  $4, V0.B16, V0.B16
	VUSHR  $4, V1.B16, V1.B16
	WORD $0x4e849456 // sdot v22.4s, v2.16b, v4.16b
	WORD $0x4e859476 // sdot v22.4s, v3.16b, v5.16b
	WORD $0x4e869417 // sdot v23.4s, v0.16b, v6.16b
	WORD $0x4e879437 // sdot v23.4s, v1.16b, v7.16b
	KFINISH
	ADD    $144, R0
	SUBS   $1, R4
	BNE    q4kloop
	FMOVS  F27, ret+40(FP)
	RET

// Q5_K's fifth bits for one chunk: from the 32 bytes of qh in V10 (bytes
// 0-15) and V11 (16-31), bit 0 becomes bit 4 of the low-nibble weights
// (V12, V13) and bit 1 bit 4 of the high-nibble ones (V14, V15); then qh
// moves right by 2 for the next chunk. V9 holds 1s, V8 2s.
#define Q5HIGH \
	VAND  V9.B16, V10.B16, V12.B16 \
	VAND  V9.B16, V11.B16, V13.B16 \
	VAND  V8.B16, V10.B16, V14.B16 \
	VAND  V8.B16, V11.B16, V15.B16 \
	VSHL  $4, V12.B16, V12.B16 \
	VSHL  $4, V13.B16, V13.B16 \
	VSHL  $3, V14.B16, V14.B16 \
	VSHL  $3, V15.B16, V15.B16 \
	VUSHR $2, V10.B16, V10.B16 \
	VUSHR $2, V11.B16, V11.B16

// One Q5_K chunk of 32 bytes at R5 and 64 activations at R1, unpacked to
// 5-bit weights: V2, V3 (low nibbles) and V0, V1 (high nibbles).
#define Q5CHUNK \
	VLD1.P 32(R5), [V0.B16, V1.B16] \
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16] \
	Q5HIGH \
	VAND   V31.B16, V0.B16, V2.B16 \
	VAND   V31.B16, V1.B16, V3.B16 \
	VUSHR  $4, V0.B16, V0.B16 \
	VUSHR  $4, V1.B16, V1.B16 \
	VORR   V12.B16, V2.B16, V2.B16 \
	VORR   V13.B16, V3.B16, V3.B16 \
	VORR   V14.B16, V0.B16, V0.B16 \
	VORR   V15.B16, V1.B16, V1.B16

// func dotQ5KSDOT(w *byte, x *int8, d *float32, sums *int16, blocks int) float32
// Q5_K block (176 bytes): Q4_K's d, dmin and scales, then qh[32] (bit 2c
// of qh[l] is the fifth bit of weight 64c+l, bit 2c+1 that of 64c+32+l),
// then the 128 bytes of nibbles as Q4_K. blocks > 0.
TEXT ·dotQ5KSDOT(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  x+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  sums+24(FP), R3
	MOVD  blocks+32(FP), R4
	VMOVI $15, V31.B16
	VMOVI $1, V9.B16
	VMOVI $2, V8.B16
	ZERO(V27)
q5kloop:
	KSCALES
	ADD    $16, R0, R5
	VLD1.P 32(R5), [V10.B16, V11.B16]
	ZERO(V16); ZERO(V17); ZERO(V18); ZERO(V19)
	ZERO(V20); ZERO(V21); ZERO(V22); ZERO(V23)
	Q5CHUNK
	WORD $0x4e849450 // sdot v16.4s, v2.16b, v4.16b
	WORD $0x4e859470 // sdot v16.4s, v3.16b, v5.16b
	WORD $0x4e869411 // sdot v17.4s, v0.16b, v6.16b
	WORD $0x4e879431 // sdot v17.4s, v1.16b, v7.16b
	Q5CHUNK
	WORD $0x4e849452 // sdot v18.4s, v2.16b, v4.16b
	WORD $0x4e859472 // sdot v18.4s, v3.16b, v5.16b
	WORD $0x4e869413 // sdot v19.4s, v0.16b, v6.16b
	WORD $0x4e879433 // sdot v19.4s, v1.16b, v7.16b
	Q5CHUNK
	WORD $0x4e849454 // sdot v20.4s, v2.16b, v4.16b
	WORD $0x4e859474 // sdot v20.4s, v3.16b, v5.16b
	WORD $0x4e869415 // sdot v21.4s, v0.16b, v6.16b
	WORD $0x4e879435 // sdot v21.4s, v1.16b, v7.16b
	Q5CHUNK
	WORD $0x4e849456 // sdot v22.4s, v2.16b, v4.16b
	WORD $0x4e859476 // sdot v22.4s, v3.16b, v5.16b
	WORD $0x4e869417 // sdot v23.4s, v0.16b, v6.16b
	WORD $0x4e879437 // sdot v23.4s, v1.16b, v7.16b
	KFINISH
	ADD    $176, R0
	SUBS   $1, R4
	BNE    q5kloop
	FMOVS  F27, ret+40(FP)
	RET

// One half (128 weights) of a Q6_K block: 64 bytes of ql at R6, 32 of qh
// at R7, 128 activations at R1. Group g (16 weights) of the half is
//	g 0-3: low nibbles of ql[16g…] with qh bits 0-1 (g 0, 1) or 2-3 (g 2, 3)
//	g 4-7: high nibbles of ql[16(g-4)…] with qh bits 4-5 (g 4, 5) or 6-7 (g 6, 7)
// where g 0, 2, 4, 6 take qh[0-15] and g 1, 3, 5, 7 qh[16-31]; the two
// bits land on bits 4-5 of the byte through a shift and the mask 0x30 (V30).
// Each group's SDOT goes to its own accumulator (V12-V19), reduced to the
// group sums of groups 0-3 (V12) and 4-7 (V16).
#define Q6HALF \
	VLD1.P 64(R6), [V0.B16, V1.B16, V2.B16, V3.B16] \
	VLD1.P 32(R7), [V4.B16, V5.B16] \
	VLD1.P 64(R1), [V8.B16, V9.B16, V10.B16, V11.B16] \
	ZERO(V12); ZERO(V13); ZERO(V14); ZERO(V15) \
	ZERO(V16); ZERO(V17); ZERO(V18); ZERO(V19) \
	VAND  V29.B16, V0.B16, V6.B16 \
	VSHL  $4, V4.B16, V7.B16 \
	VAND  V30.B16, V7.B16, V7.B16 \
	VORR  V7.B16, V6.B16, V6.B16 \
	WORD $0x4e8894cc /* sdot v12.4s, v6.16b, v8.16b */ \
	VAND  V29.B16, V1.B16, V6.B16 \
	VSHL  $4, V5.B16, V7.B16 \
	VAND  V30.B16, V7.B16, V7.B16 \
	VORR  V7.B16, V6.B16, V6.B16 \
	WORD $0x4e8994cd /* sdot v13.4s, v6.16b, v9.16b */ \
	VAND  V29.B16, V2.B16, V6.B16 \
	VSHL  $2, V4.B16, V7.B16 \
	VAND  V30.B16, V7.B16, V7.B16 \
	VORR  V7.B16, V6.B16, V6.B16 \
	WORD $0x4e8a94ce /* sdot v14.4s, v6.16b, v10.16b */ \
	VAND  V29.B16, V3.B16, V6.B16 \
	VSHL  $2, V5.B16, V7.B16 \
	VAND  V30.B16, V7.B16, V7.B16 \
	VORR  V7.B16, V6.B16, V6.B16 \
	WORD $0x4e8b94cf /* sdot v15.4s, v6.16b, v11.16b */ \
	VLD1.P 64(R1), [V8.B16, V9.B16, V10.B16, V11.B16] \
	VUSHR $4, V0.B16, V6.B16 \
	VAND  V30.B16, V4.B16, V7.B16 \
	VORR  V7.B16, V6.B16, V6.B16 \
	WORD $0x4e8894d0 /* sdot v16.4s, v6.16b, v8.16b */ \
	VUSHR $4, V1.B16, V6.B16 \
	VAND  V30.B16, V5.B16, V7.B16 \
	VORR  V7.B16, V6.B16, V6.B16 \
	WORD $0x4e8994d1 /* sdot v17.4s, v6.16b, v9.16b */ \
	VUSHR $4, V2.B16, V6.B16 \
	VUSHR $2, V4.B16, V7.B16 \
	VAND  V30.B16, V7.B16, V7.B16 \
	VORR  V7.B16, V6.B16, V6.B16 \
	WORD $0x4e8a94d2 /* sdot v18.4s, v6.16b, v10.16b */ \
	VUSHR $4, V3.B16, V6.B16 \
	VUSHR $2, V5.B16, V7.B16 \
	VAND  V30.B16, V7.B16, V7.B16 \
	VORR  V7.B16, V6.B16, V6.B16 \
	WORD $0x4e8b94d3 /* sdot v19.4s, v6.16b, v11.16b */ \
	VADDP V13.S4, V12.S4, V12.S4 \
	VADDP V15.S4, V14.S4, V14.S4 \
	VADDP V14.S4, V12.S4, V12.S4 \
	VADDP V17.S4, V16.S4, V16.S4 \
	VADDP V19.S4, V18.S4, V18.S4 \
	VADDP V18.S4, V16.S4, V16.S4

// V21 += the group sums of a half times their scales (int16 in V26 for
// the first half, V27 for the second), widened to int32 in V22 and V23.
#define Q6SCALES_LO \
	WORD $0x0f10a756 /* sxtl v22.4s, v26.4h */ \
	WORD $0x4f10a757 /* sxtl2 v23.4s, v26.8h */ \
	WORD $0x4eb69595 /* mla v21.4s, v12.4s, v22.4s */ \
	WORD $0x4eb79615 /* mla v21.4s, v16.4s, v23.4s */

#define Q6SCALES_HI \
	WORD $0x0f10a776 /* sxtl v22.4s, v27.4h */ \
	WORD $0x4f10a777 /* sxtl2 v23.4s, v27.8h */ \
	WORD $0x4eb69595 /* mla v21.4s, v12.4s, v22.4s */ \
	WORD $0x4eb79615 /* mla v21.4s, v16.4s, v23.4s */

// func dotQ6KSDOT(w *byte, x *int8, d *float32, sums *int16, blocks int) float32
// Q6_K block (210 bytes): ql[128], qh[64], 16 int8 group scales, fp16 d;
// weight = d·sc·(q-32) with q six bits. The -32 is applied through the
// activation sums per 16 values (qact.s16, 16 per block):
// Σ sc·Σ(q-32)·x = Σ sc·Σ q·x − 32·Σ sc·S16. blocks > 0.
TEXT ·dotQ6KSDOT(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  x+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  sums+24(FP), R3
	MOVD  blocks+32(FP), R4
	VMOVI $15, V29.B16
	VMOVI $0x30, V30.B16
	ZERO(V31)
q6kloop:
	ADD    $192, R0, R5
	VLD1   (R5), [V28.B16]
	WORD $0x0f08a79a // sxtl v26.8h, v28.8b
	WORD $0x4f08a79b // sxtl2 v27.8h, v28.16b
	VLD1.P 32(R3), [V24.H8, V25.H8]
	WORD $0x0e7ac314 // smull v20.4s, v24.4h, v26.4h
	WORD $0x4e7a8314 // smlal2 v20.4s, v24.8h, v26.8h
	WORD $0x0e7b8334 // smlal v20.4s, v25.4h, v27.4h
	WORD $0x4e7b8334 // smlal2 v20.4s, v25.8h, v27.8h
	ZERO(V21)
	MOVD   R0, R6
	ADD    $128, R0, R7
	Q6HALF
	Q6SCALES_LO
	Q6HALF
	Q6SCALES_HI
	VSHL   $5, V20.S4, V20.S4
	VSUB   V20.S4, V21.S4, V21.S4
	VADDV  V21.S4, V21
	WORD $0x5e21dab5 // scvtf s21, s21
	MOVHU  208(R0), R8
	FMOVS  R8, F22
	FCVTHS F22, F22
	FMOVS.P 4(R2), F23
	FMULS  F23, F22, F22
	FMULS  F21, F22, F22
	FADDS  F22, F31, F31
	ADD    $210, R0
	SUBS   $1, R4
	BNE    q6kloop
	FMOVS  F31, ret+40(FP)
	RET
