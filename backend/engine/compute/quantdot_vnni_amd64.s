//go:build goexperiment.simd && amd64

#include "textflag.h"

// AVX-512 VNNI kernels for the fused quantized dot products (see
// quantdot_vnni_amd64.go). Each consumes 64 weight values per step: the
// weights as 64 unsigned bytes in value order, VPDPBUSD against 64 int8
// activations (4 products summed per int32 lane, so lanes 0-7 hold the
// first 32 values and 8-15 the last 32), conversion to float and one
// multiply-add with the per-group float scales the Go side computed
// (scale stream: one float per 32 values, or per 16 for Q6_K, expanded
// across the lanes with VPERMPS). All end with VZEROUPPER.
//
// Register use: Z0, Z5-Z7 accumulators; Z26-Z31 constants. Each step
// prefetches about 1 KiB ahead: the row streams from memory, and the
// hardware prefetcher alone left the core waiting.

// permutation indices: pairs [0×8, 1×8] and quads [0×4, 1×4, 2×4, 3×4]
DATA pairIdx<>+0(SB)/8, $0x0000000000000000
DATA pairIdx<>+8(SB)/8, $0x0000000000000000
DATA pairIdx<>+16(SB)/8, $0x0000000000000000
DATA pairIdx<>+24(SB)/8, $0x0000000000000000
DATA pairIdx<>+32(SB)/8, $0x0000000100000001
DATA pairIdx<>+40(SB)/8, $0x0000000100000001
DATA pairIdx<>+48(SB)/8, $0x0000000100000001
DATA pairIdx<>+56(SB)/8, $0x0000000100000001
GLOBL pairIdx<>(SB), RODATA|NOPTR, $64

DATA quadIdx<>+0(SB)/8, $0x0000000000000000
DATA quadIdx<>+8(SB)/8, $0x0000000000000000
DATA quadIdx<>+16(SB)/8, $0x0000000100000001
DATA quadIdx<>+24(SB)/8, $0x0000000100000001
DATA quadIdx<>+32(SB)/8, $0x0000000200000002
DATA quadIdx<>+40(SB)/8, $0x0000000200000002
DATA quadIdx<>+48(SB)/8, $0x0000000300000003
DATA quadIdx<>+56(SB)/8, $0x0000000300000003
GLOBL quadIdx<>(SB), RODATA|NOPTR, $64

// The K-quant scale unpacking: byte shuffles and masks (see KSCALES).
DATA kIdxLo<>+0(SB)/8, $0x0b0a090803020100
DATA kIdxLo<>+8(SB)/8, $0x0b0a090807060504
GLOBL kIdxLo<>(SB), RODATA|NOPTR, $16
DATA kIdxHi<>+0(SB)/8, $0x0302010080808080
DATA kIdxHi<>+8(SB)/8, $0x0706050480808080
GLOBL kIdxHi<>(SB), RODATA|NOPTR, $16
DATA kMaskLo<>+0(SB)/8, $0x0f0f0f0f3f3f3f3f
DATA kMaskLo<>+8(SB)/8, $0x0f0f0f0f3f3f3f3f
GLOBL kMaskLo<>(SB), RODATA|NOPTR, $16

// REDUCE sums the 16 lanes of Z0 into the low float of X0, moves its bits
// to AX and clears the upper state.
#define REDUCE \
	VEXTRACTF64X4 $1, Z0, Y1; \
	VADDPS Y1, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS X1, X0, X0; \
	VPERMILPS $0x4E, X0, X1; \
	VADDPS X1, X0, X0; \
	VPERMILPS $0xB1, X0, X1; \
	VADDPS X1, X0, X0; \
	VMOVD X0, AX; \
	VZEROUPPER

// SCALE2 multiplies the int32 sums in Z3 by the two floats at off(DX)
// (lanes 0-7, 8-15) and adds them to acc.
#define SCALE2(off, acc) \
	VCVTDQ2PS Z3, Z3; \
	VMOVQ off(DX), X4; \
	VPERMPS Z4, Z29, Z4; \
	VFMADD231PS Z4, Z3, acc

// SCALE4 is SCALE2 for four floats, one per 16 values.
#define SCALE4(off, acc) \
	VCVTDQ2PS Z3, Z3; \
	VMOVUPS off(DX), X4; \
	VPERMPS Z4, Z26, Z4; \
	VFMADD231PS Z4, Z3, acc

#define SETUP \
	MOVQ w+0(FP), SI; \
	MOVQ x+8(FP), DI; \
	MOVQ scale+16(FP), DX; \
	MOVQ n+24(FP), CX; \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	VPXORD Z31, Z31, Z31; \
	VMOVDQU64 pairIdx<>(SB), Z29; \
	VMOVDQU64 quadIdx<>(SB), Z26; \
	MOVL $0x0F0F0F0F, AX; \
	VPBROADCASTD AX, Z30; \
	MOVL $0x10101010, AX; \
	VPBROADCASTD AX, Z28; \
	MOVL $0x30303030, AX; \
	VPBROADCASTD AX, Z27

#define SUM_ACCS \
	VADDPS Z5, Z0, Z0; \
	VADDPS Z7, Z6, Z6; \
	VADDPS Z6, Z0, Z0

// KSCALES leaves in Y10 the 8 sub-block scales × d·d_x of the block at SI,
// and adds its min term to Y17. DX: the block's d_x; R8: its 8 sums of 32
// activations (int16). The 6-bit scales and mins are unpacked with two
// byte shuffles (get_scale_min_k4 for all j: scale j<4 is q[j]&63, j≥4 is
// q[j+4]&15 | (q[j-4]>>6)<<4; min j<4 is q[j+4]&63, j≥4 is
// q[j+4]>>4 | (q[j]>>6)<<4), so X11 = [sc0…sc7, m0…m7].
#define KSCALES \
	VMOVDQU 4(SI), X10; \
	VPSHUFB X25, X10, X11; \
	VPSRLW $4, X11, X12; \
	VMOVDQU8 X12, K4, X11; \
	VPANDD X24, X11, X11; \
	VPSHUFB X26, X10, X12; \
	VPANDD X19, X12, X12; \
	VPSRLW $2, X12, X12; \
	VPORD X12, X11, X11; \
	VPMOVZXBD X11, Y10; \
	VPSRLDQ $8, X11, X13; \
	VPMOVZXBD X13, Y13; \
	VPBROADCASTD (SI), X11; \
	VCVTPH2PS X11, Y11; \
	VBROADCASTSS (DX), Y12; \
	VMULPS Y12, Y11, Y11; \
	VPERMILPS $0x00, Y11, Y12; \
	VPERMILPS $0x55, Y11, Y16; \
	VCVTDQ2PS Y10, Y10; \
	VMULPS Y12, Y10, Y10; \
	VCVTDQ2PS Y13, Y13; \
	VPMOVSXWD (R8), Y14; \
	VCVTDQ2PS Y14, Y14; \
	VMULPS Y14, Y13, Y13; \
	VFMADD231PS Y16, Y13, Y17

// KCHUNK multiplies the 64 unsigned values in Z1 with the activations at
// xoff(DI) and adds them, scaled by sub-blocks idx (Z20…Z23), to acc.
#define KCHUNK(xoff, idx, acc) \
	VPXORD Z3, Z3, Z3; \
	VPDPBUSD xoff(DI), Z1, Z3; \
	VCVTDQ2PS Z3, Z3; \
	VPERMPS Z10, idx, Z4; \
	VFMADD231PS Z4, Z3, acc

// NIBBLES64 loads 32 bytes at qoff(SI) into Z1 as 64 values: the low
// nibbles, then the high ones.
#define NIBBLES64(qoff) \
	VMOVDQU qoff(SI), Y1; \
	VPSRLW $4, Y1, Y2; \
	VINSERTI64X4 $1, Y2, Z1, Z1; \
	VPANDD Z30, Z1, Z1

// KSETUP: masks and the sub-block pair indices Z20 = [0×8, 1×8],
// Z21 = [2, 3], Z22 = [4, 5], Z23 = [6, 7]; BX: the first row.
#define KSETUP \
	MOVQ w+0(FP), BX; \
	VMOVDQU64 pairIdx<>(SB), Z20; \
	MOVL $2, AX; \
	VPBROADCASTD AX, Z2; \
	VPADDD Z2, Z20, Z21; \
	VPADDD Z2, Z21, Z22; \
	VPADDD Z2, Z22, Z23; \
	MOVL $0x0F0F0F0F, AX; \
	VPBROADCASTD AX, Z30; \
	MOVL $0x10101010, AX; \
	VPBROADCASTD AX, Z28; \
	MOVL $0x30303030, AX; \
	VPBROADCASTD AX, Z27; \
	VMOVDQU64 kIdxLo<>(SB), X25; \
	VMOVDQU64 kIdxHi<>(SB), X26; \
	VMOVDQU64 kMaskLo<>(SB), X24; \
	MOVL $0xC0C0C0C0, AX; \
	VPBROADCASTD AX, X19; \
	MOVQ $0xF000, AX; \
	KMOVW AX, K4

// KROW starts a row: its pointers and zeroed accumulators.
#define KROW \
	MOVQ BX, SI; \
	MOVQ x+8(FP), DI; \
	MOVQ dx+16(FP), DX; \
	MOVQ sums+24(FP), R8; \
	MOVQ n+32(FP), CX; \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	VPXORD Z17, Z17, Z17

// KSUM leaves in X0 the row's sum of products and in X1 its min (or
// offset) term, without leaving the vector unit.
#define KSUM \
	VEXTRACTF32X4 $1, Y17, X1; \
	VADDPS X1, X17, X1; \
	VPERMILPS $0x4E, X1, X2; \
	VADDPS X2, X1, X1; \
	VPERMILPS $0xB1, X1, X2; \
	VADDPS X2, X1, X1; \
	VADDPS Z5, Z0, Z0; \
	VADDPS Z7, Z6, Z6; \
	VADDPS Z6, Z0, Z0; \
	VEXTRACTF64X4 $1, Z0, Y2; \
	VADDPS Y2, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X2; \
	VADDPS X2, X0, X0; \
	VPERMILPS $0x4E, X0, X2; \
	VADDPS X2, X0, X0; \
	VPERMILPS $0xB1, X0, X2; \
	VADDPS X2, X0, X0

// KNEXT stores X0 to the row's output and moves on to the next row;
// after the last it clears the upper state and returns.
#define KNEXT(loop) \
	MOVQ out+56(FP), AX; \
	VMOVSS X0, (AX); \
	ADDQ $4, AX; \
	MOVQ AX, out+56(FP); \
	ADDQ rowBytes+48(FP), BX; \
	DECQ rows+40(FP); \
	JNZ loop; \
	VZEROUPPER; \
	RET

// Q5HIGH ors the fifth bits from Z8 = [qh, qh>>1] (shifted right by 2c so
// far) into Z1 and moves Z8 on to the next chunk.
#define Q5HIGH \
	VPSLLW $4, Z8, Z9; \
	VPANDD Z28, Z9, Z9; \
	VPORD Z9, Z1, Z1; \
	VPSRLW $2, Z8, Z8

// Q6 scales: Z10 = the 16 group scales × d·d_x; the offset term
// Σ sc_g·Σx_g·d·d_x (to be multiplied by 32) accumulates in Z17.
#define Q6SCALES \
	VPMOVSXBD 192(SI), Z10; \
	VCVTDQ2PS Z10, Z10; \
	VPBROADCASTW 208(SI), X11; \
	VCVTPH2PS X11, Y11; \
	VMULSS (DX), X11, X11; \
	VBROADCASTSS X11, Z12; \
	VMULPS Z12, Z10, Z10; \
	VPMOVSXWD (R8), Z13; \
	VCVTDQ2PS Z13, Z13; \
	VFMADD231PS Z13, Z10, Z17

// Q6CHUNK scales 64 values by four groups of 16 (indices idx).
#define Q6CHUNK(xoff, idx, acc) \
	VPXORD Z3, Z3, Z3; \
	VPDPBUSD xoff(DI), Z11, Z3; \
	VCVTDQ2PS Z3, Z3; \
	VPERMPS Z10, idx, Z4; \
	VFMADD231PS Z4, Z3, acc

// Q6KHALF handles values 128h…128h+127: Z1 = the 64 ql bytes, Z2 = [qh,
// qh>>2] of the half.
#define Q6KHALF(h, idx0, idx1, acc0, acc1) \
	VMOVDQU64 (64*h)(SI), Z1; \
	VMOVDQU (128+32*h)(SI), Y2; \
	VPSRLW $2, Y2, Y9; \
	VINSERTI64X4 $1, Y9, Z2, Z2; \
	VPANDD Z30, Z1, Z11; \
	VPSLLW $4, Z2, Z12; \
	VPANDD Z27, Z12, Z12; \
	VPORD Z12, Z11, Z11; \
	Q6CHUNK(128*h, idx0, acc0); \
	VPSRLW $4, Z1, Z11; \
	VPANDD Z30, Z11, Z11; \
	VPANDD Z27, Z2, Z12; \
	VPORD Z12, Z11, Z11; \
	Q6CHUNK(128*h+64, idx1, acc1)

// PAIRSCALES leaves in Z4 [s0×8, s1×8], the scales of the two 32-value
// blocks at SI (their fp16 d at 0 and at off) times the activation scales
// at DX.
#define PAIRSCALES(off) \
	VMOVD (SI), X4; \
	VPINSRW $1, off(SI), X4, X4; \
	VCVTPH2PS X4, X4; \
	VMOVQ (DX), X6; \
	VMULPS X6, X4, X4; \
	VPERMPS Z4, Z29, Z4

// ROWSUM leaves the row's sum (Z0 + Z5) in X0 without leaving the vector
// unit.
#define ROWSUM \
	VADDPS Z5, Z0, Z0; \
	VEXTRACTF64X4 $1, Z0, Y2; \
	VADDPS Y2, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X2; \
	VADDPS X2, X0, X0; \
	VPERMILPS $0x4E, X0, X2; \
	VADDPS X2, X0, X0; \
	VPERMILPS $0xB1, X0, X2; \
	VADDPS X2, X0, X0

// PROW starts a row of 32-value block pairs.
#define PROW \
	MOVQ BX, SI; \
	MOVQ x+8(FP), DI; \
	MOVQ dx+16(FP), DX; \
	MOVQ n+24(FP), CX; \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z5, Z5, Z5

// PNEXT stores X0 and moves to the next row, or returns after the last.
#define PNEXT(loop) \
	MOVQ out+48(FP), AX; \
	VMOVSS X0, (AX); \
	ADDQ $4, AX; \
	MOVQ AX, out+48(FP); \
	ADDQ rowBytes+40(FP), BX; \
	DECQ rows+32(FP); \
	JNZ loop; \
	VZEROUPPER; \
	RET

TEXT ·vnniQ8_0(SB), NOSPLIT, $0-36
	SETUP
	TESTQ CX, CX
	JZ q80done
q80loop:
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	VMOVDQU 2(SI), Y1
	VINSERTI64X4 $1, 36(SI), Z1, Z1
	VMOVDQU64 (DI), Z2
	VPMOVB2M Z1, K1
	VPABSB Z1, Z1
	VPSUBB Z2, Z31, K1, Z2     // activations take the weights' signs
	VPXORD Z3, Z3, Z3
	VPDPBUSD Z2, Z1, Z3
	SCALE2(0, Z0)
	ADDQ $68, SI
	ADDQ $64, DI
	ADDQ $8, DX
	DECQ CX
	JNZ q80loop
q80done:
	REDUCE
	MOVL AX, ret+32(FP)
	RET

// func vnniQ4_0(w *byte, x *int8, scale *float32, n int) uint32
// n pairs of Q4_0 blocks (36 bytes, 64 values); scale: one float per block.
TEXT ·vnniQ4_0(SB), NOSPLIT, $0-36
	SETUP
	MOVQ $0xCC, AX            // qwords of 128-bit lanes 1 and 3: the high nibbles
	KMOVQ AX, K2
	MOVQ $0xF0, AX            // qwords of the upper 256 bits: the second block
	KMOVQ AX, K3
	TESTQ CX, CX
	JZ q40done
q40loop:
	PREFETCHT0 2048(SI)
	VBROADCASTI32X4 2(SI), Z1
	VBROADCASTI32X4 20(SI), Z2
	VMOVDQU64 Z2, K3, Z1       // [q0, q0, q1, q1]
	VPSRLW $4, Z1, Z2
	VMOVDQU64 Z2, K2, Z1       // [q0, q0>>4, q1, q1>>4]
	VPANDD Z30, Z1, Z1
	VPXORD Z3, Z3, Z3
	VPDPBUSD (DI), Z1, Z3
	SCALE2(0, Z0)
	ADDQ $36, SI
	ADDQ $64, DI
	ADDQ $8, DX
	DECQ CX
	JNZ q40loop
q40done:
	REDUCE
	MOVL AX, ret+32(FP)
	RET

// The K-quant kernels derive each block's float scales themselves (no
// scalar pass in Go): the 6-bit scales and mins are unpacked with ggml's
// 32-bit mask trick in general registers, widened to floats, and multiplied
// by d·d_x (VCVTPH2PS converts d and dmin). The min term Σ m_j·Σx_j·dmin·d_x
// is accumulated in Y17 and returned separately.

// func vnniQ4_K(w *byte, x *int8, dx *float32, sums *int16, n int, rows int, rowBytes int, out *float32)
// rows rows of n Q4_K blocks (144 bytes), rowBytes apart; dx: one
// activation scale per block; sums: the activations' sums per 32 values.
// out[r] = the dot product of row r (its min term subtracted).
TEXT ·vnniQ4_K(SB), NOSPLIT, $0-64
	KSETUP
q4krow:
	KROW
q4kloop:
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	PREFETCHT0 2176(SI)
	KSCALES
	NIBBLES64(16)
	KCHUNK(0, Z20, Z0)
	NIBBLES64(48)
	KCHUNK(64, Z21, Z5)
	NIBBLES64(80)
	KCHUNK(128, Z22, Z6)
	NIBBLES64(112)
	KCHUNK(192, Z23, Z7)
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $16, R8
	DECQ CX
	JNZ q4kloop
	KSUM
	VSUBSS X1, X0, X0
	KNEXT(q4krow)

// func vnniQ5_K(w *byte, x *int8, dx *float32, sums *int16, n int, rows int, rowBytes int, out *float32)
// As vnniQ4_K for Q5_K blocks (176 bytes).
TEXT ·vnniQ5_K(SB), NOSPLIT, $0-64
	KSETUP
q5krow:
	KROW
q5kloop:
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	PREFETCHT0 2176(SI)
	KSCALES
	VMOVDQU 16(SI), Y8
	VPSRLW $1, Y8, Y9
	VINSERTI64X4 $1, Y9, Z8, Z8
	NIBBLES64(48)
	Q5HIGH
	KCHUNK(0, Z20, Z0)
	NIBBLES64(80)
	Q5HIGH
	KCHUNK(64, Z21, Z5)
	NIBBLES64(112)
	Q5HIGH
	KCHUNK(128, Z22, Z6)
	NIBBLES64(144)
	Q5HIGH
	KCHUNK(192, Z23, Z7)
	ADDQ $176, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $16, R8
	DECQ CX
	JNZ q5kloop
	KSUM
	VSUBSS X1, X0, X0
	KNEXT(q5krow)

// func vnniQ6_K(w *byte, x *int8, dx *float32, sums *int16, n int, rows int, rowBytes int, out *float32)
// As vnniQ4_K for Q6_K blocks (210 bytes); sums: per 16 values.
TEXT ·vnniQ6_K(SB), NOSPLIT, $0-64
	KSETUP
	VMOVDQU64 quadIdx<>(SB), Z20      // groups [0…3], [4…7], [8…11], [12…15]
	MOVL $4, AX
	VPBROADCASTD AX, Z2
	VPADDD Z2, Z20, Z21
	VPADDD Z2, Z21, Z22
	VPADDD Z2, Z22, Z23
	MOVL $0x42000000, AX              // 32.0: every value's offset
	VMOVD AX, X31
q6krow:
	KROW
q6kloop:
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	PREFETCHT0 2176(SI)
	PREFETCHT0 2240(SI)
	Q6SCALES
	Q6KHALF(0, Z20, Z21, Z0, Z5)
	Q6KHALF(1, Z22, Z23, Z6, Z7)
	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, R8
	DECQ CX
	JNZ q6kloop
	VEXTRACTF64X4 $1, Z17, Y1
	VADDPS Y1, Y17, Y17
	KSUM
	VMULSS X31, X1, X1
	VSUBSS X1, X0, X0
	KNEXT(q6krow)

// func vnniQ8_0rows(w *byte, x *int8, dx *float32, n, rows, rowBytes int, out *float32)
// rows rows of 2n Q8_0 blocks (34 bytes), rowBytes apart; dx: one
// activation scale per block. Each block's fp16 scale is converted here.
TEXT ·vnniQ8_0rows(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), BX
	VMOVDQU64 pairIdx<>(SB), Z29
	VPXORD Z31, Z31, Z31
p80row:
	PROW
p80loop:
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	PAIRSCALES(34)
	VMOVDQU 2(SI), Y1
	VINSERTI64X4 $1, 36(SI), Z1, Z1
	VMOVDQU64 (DI), Z2
	VPMOVB2M Z1, K1
	VPABSB Z1, Z1
	VPSUBB Z2, Z31, K1, Z2
	VPXORD Z3, Z3, Z3
	VPDPBUSD Z2, Z1, Z3
	VCVTDQ2PS Z3, Z3
	VFMADD231PS Z4, Z3, Z0
	ADDQ $68, SI
	ADDQ $64, DI
	ADDQ $8, DX
	DECQ CX
	JNZ p80loop
	ROWSUM
	PNEXT(p80row)

// func vnniQ4_0rows(w *byte, x *int8, dx *float32, n, rows, rowBytes int, out *float32)
// As vnniQ8_0rows for Q4_0 blocks (18 bytes); the -8 of every value comes
// off through a second VPDPBUSD of the activations with 8s.
TEXT ·vnniQ4_0rows(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), BX
	VMOVDQU64 pairIdx<>(SB), Z29
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z30
	MOVL $0x08080808, AX
	VPBROADCASTD AX, Z28
	MOVQ $0xCC, AX
	KMOVQ AX, K2
	MOVQ $0xF0, AX
	KMOVQ AX, K3
p40row:
	PROW
p40loop:
	PREFETCHT0 2048(SI)
	PAIRSCALES(18)
	VBROADCASTI32X4 2(SI), Z1
	VBROADCASTI32X4 20(SI), Z2
	VMOVDQU64 Z2, K3, Z1
	VPSRLW $4, Z1, Z2
	VMOVDQU64 Z2, K2, Z1
	VPANDD Z30, Z1, Z1
	VMOVDQU64 (DI), Z2
	VPXORD Z3, Z3, Z3
	VPDPBUSD Z2, Z1, Z3
	VPXORD Z9, Z9, Z9
	VPDPBUSD Z2, Z28, Z9
	VPSUBD Z9, Z3, Z3
	VCVTDQ2PS Z3, Z3
	VFMADD231PS Z4, Z3, Z0
	ADDQ $36, SI
	ADDQ $64, DI
	ADDQ $8, DX
	DECQ CX
	JNZ p40loop
	ROWSUM
	PNEXT(p40row)

// func blockScales(w *byte, stride int, dx *float32, out *float32, n int, sums *int16) uint32
// out[b] = fp16 at w+b·stride (a block's scale) × dx[b], for n blocks, n a
// multiple of 16: sixteen at a time with a gather, VCVTPH2PS and one
// multiply, instead of a scalar conversion per block. It returns the bits
// of Σ out[b]·sums[b] (Q4_0's offset term; pass any sums when unused).
TEXT ·blockScales(SB), NOSPLIT, $0-52
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), BX
	MOVQ dx+16(FP), DX
	MOVQ out+24(FP), DI
	MOVQ n+32(FP), CX
	MOVQ sums+40(FP), R8
	VPXORD Z0, Z0, Z0
	SHRQ $4, CX
	JZ bsdone
	VPBROADCASTD BX, Z2
	VMOVDQU32 laneIdx<>(SB), Z1
	VPMULLD Z2, Z1, Z1          // byte offsets b·stride of 16 blocks
	SHLQ $4, BX                 // bytes per 16 blocks
	MOVQ $0xFFFF, AX
bsloop:
	KMOVW AX, K1
	VPXORD Z3, Z3, Z3
	VPGATHERDD (SI)(Z1*1), K1, Z3
	VPMOVDW Z3, Y3              // the low 16 bits: the fp16 scale
	VCVTPH2PS Y3, Z3
	VMULPS (DX), Z3, Z3
	VMOVUPS Z3, (DI)
	VPMOVSXWD (R8), Z4
	VCVTDQ2PS Z4, Z4
	VFMADD231PS Z4, Z3, Z0
	ADDQ BX, SI
	ADDQ $64, DX
	ADDQ $64, DI
	ADDQ $32, R8
	DECQ CX
	JNZ bsloop
bsdone:
	REDUCE
	MOVL AX, ret+48(FP)
	RET

DATA laneIdx<>+0(SB)/8, $0x0000000100000000
DATA laneIdx<>+8(SB)/8, $0x0000000300000002
DATA laneIdx<>+16(SB)/8, $0x0000000500000004
DATA laneIdx<>+24(SB)/8, $0x0000000700000006
DATA laneIdx<>+32(SB)/8, $0x0000000900000008
DATA laneIdx<>+40(SB)/8, $0x0000000b0000000a
DATA laneIdx<>+48(SB)/8, $0x0000000d0000000c
DATA laneIdx<>+56(SB)/8, $0x0000000f0000000e
GLOBL laneIdx<>(SB), RODATA|NOPTR, $64

// Lane pattern of vnniQ4_0rowsP's scales: lanes 0-3 and 8-11 hold the
// first block's products, 4-7 and 12-15 the second's.
DATA pairIdxP<>+0(SB)/8, $0x0000000000000000
DATA pairIdxP<>+8(SB)/8, $0x0000000000000000
DATA pairIdxP<>+16(SB)/8, $0x0000000100000001
DATA pairIdxP<>+24(SB)/8, $0x0000000100000001
DATA pairIdxP<>+32(SB)/8, $0x0000000000000000
DATA pairIdxP<>+40(SB)/8, $0x0000000000000000
DATA pairIdxP<>+48(SB)/8, $0x0000000100000001
DATA pairIdxP<>+56(SB)/8, $0x0000000100000001
GLOBL pairIdxP<>(SB), RODATA|NOPTR, $64

// Q4PAIR adds the pair of Q4_0 blocks at SI (activations at DI, offsets
// at R9, activation scales at DX) to acc: the two blocks' 16 nibble bytes
// as one 256-bit value, its high nibbles above it, so 64 values in the
// order of the permuted activations; the dot product accumulates onto the
// blocks' -Σx lanes (the -8 of every value) and is scaled once.
#define Q4PAIR(acc) \
	PAIRSCALES(18); \
	VMOVDQU 2(SI), X1; \
	VINSERTI128 $1, 20(SI), Y1, Y1; \
	VPSRLW $4, Y1, Y2; \
	VINSERTI64X4 $1, Y2, Z1, Z1; \
	VPANDD Z30, Z1, Z1; \
	VMOVDQU32 (R9), Z3; \
	VPDPBUSD (DI), Z1, Z3; \
	VCVTDQ2PS Z3, Z3; \
	VFMADD231PS Z4, Z3, acc; \
	ADDQ $36, SI; \
	ADDQ $64, DI; \
	ADDQ $64, R9; \
	ADDQ $8, DX

// Q4BODY is Q4PAIR for the k-th pair of a group of four, its scales
// already in Z4 (the group's 8 block scales) and picked by the lane
// pattern idx; the pointers stay at the group's start.
#define Q4BODY(k, idx, acc) \
	VPERMPS Z4, idx, Z6; \
	VMOVDQU (36*k+2)(SI), X1; \
	VINSERTI128 $1, (36*k+20)(SI), Y1, Y1; \
	VPSRLW $4, Y1, Y2; \
	VINSERTI64X4 $1, Y2, Z1, Z1; \
	VPANDD Z30, Z1, Z1; \
	VMOVDQU32 (64*k)(R9), Z3; \
	VPDPBUSD (64*k)(DI), Z1, Z3; \
	VCVTDQ2PS Z3, Z3; \
	VFMADD231PS Z6, Z3, acc

// HALVES4 gathers the fp16 scales of the four blocks at off(SI) (18 bytes
// apart) into reg, in the integer unit.
#define HALVES4(off, reg) \
	MOVWQZX (off)(SI), reg; \
	MOVWQZX (off+18)(SI), R10; \
	SHLQ $16, R10; \
	ORQ R10, reg; \
	MOVWQZX (off+36)(SI), R10; \
	SHLQ $32, R10; \
	ORQ R10, reg; \
	MOVWQZX (off+54)(SI), R10; \
	SHLQ $48, R10; \
	ORQ R10, reg

// func vnniQ4_0rowsP(w *byte, x *int8, dx *float32, neg *int32, n, rows, rowBytes int, out *float32)
// As vnniQ4_0rows, reading the permuted activations and their offset
// lanes (qact.permuteQ4_0): x and neg per pair of blocks. Groups of four
// pairs convert their 8 block scales at once (gathered in general
// registers, one VCVTPH2PS and one multiply); the last pairs go one by one.
TEXT ·vnniQ4_0rowsP(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), BX
	VMOVDQU64 pairIdxP<>(SB), Z29
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z30
	MOVL $2, AX
	VPBROADCASTD AX, Z2
	VMOVDQA64 Z29, Z20
	VPADDD Z2, Z20, Z21
	VPADDD Z2, Z21, Z22
	VPADDD Z2, Z22, Z23
p4prow:
	MOVQ BX, SI
	MOVQ x+8(FP), DI
	MOVQ dx+16(FP), DX
	MOVQ neg+24(FP), R9
	MOVQ n+32(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z5, Z5, Z5
	SUBQ $4, CX
	JB p4ptail
p4ploop:
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	PREFETCHT0 2176(SI)
	HALVES4(0, AX)
	HALVES4(72, R11)
	VMOVQ AX, X4
	VPINSRQ $1, R11, X4, X4
	VCVTPH2PS X4, Y4
	VMULPS (DX), Y4, Y4
	Q4BODY(0, Z20, Z0)
	Q4BODY(1, Z21, Z5)
	Q4BODY(2, Z22, Z0)
	Q4BODY(3, Z23, Z5)
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $256, R9
	ADDQ $32, DX
	SUBQ $4, CX
	JAE p4ploop
p4ptail:
	ADDQ $4, CX
	JZ p4pdone
p4ptailloop:
	Q4PAIR(Z0)
	DECQ CX
	JNZ p4ptailloop
p4pdone:
	ROWSUM
	MOVQ out+56(FP), AX
	VMOVSS X0, (AX)
	ADDQ $4, AX
	MOVQ AX, out+56(FP)
	ADDQ rowBytes+48(FP), BX
	DECQ rows+40(FP)
	JNZ p4prow
	VZEROUPPER
	RET
