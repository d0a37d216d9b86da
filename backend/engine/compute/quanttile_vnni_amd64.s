//go:build goexperiment.simd && amd64

#include "textflag.h"

// Token-tile VNNI kernels for Q8_0 and Q4_0 prefill (see quanttile.go):
// 4 weight rows × 4 tokens per call, so each 64-value piece of a row is
// loaded and unpacked once for 4 tokens, and each token's activations once
// for 4 rows. Per pair of 32-value blocks and token the activations come
// packed (qtile): 64 int8 values, 16 int32 starting lanes (the offset
// correction: Q4_0's -8, Q8_0's -128 of its bias-shifted weights) and 16
// float activation scales, each lane matching the VPDPBUSD lane it scales.
// The weights' fp16 block scales are widened per row and pair.
//
// Registers: Z1 Z2 Z6 Z7 the rows' 64 weights, Z4 Z5 Z8 Z26 their scales
// per lane, Z10-Z25 the 16 accumulators (token j, row r: Z(10+4j+r)),
// Z0 Z31 Z29 a token's values, starting lanes and scales, Z3 Z9 temporaries.

DATA tileIdx8<>+0(SB)/8, $0x0000000000000000
DATA tileIdx8<>+8(SB)/8, $0x0000000000000000
DATA tileIdx8<>+16(SB)/8, $0x0000000000000000
DATA tileIdx8<>+24(SB)/8, $0x0000000000000000
DATA tileIdx8<>+32(SB)/8, $0x0000000100000001
DATA tileIdx8<>+40(SB)/8, $0x0000000100000001
DATA tileIdx8<>+48(SB)/8, $0x0000000100000001
DATA tileIdx8<>+56(SB)/8, $0x0000000100000001
GLOBL tileIdx8<>(SB), RODATA|NOPTR, $64

DATA tileIdx4<>+0(SB)/8, $0x0000000000000000
DATA tileIdx4<>+8(SB)/8, $0x0000000000000000
DATA tileIdx4<>+16(SB)/8, $0x0000000100000001
DATA tileIdx4<>+24(SB)/8, $0x0000000100000001
DATA tileIdx4<>+32(SB)/8, $0x0000000000000000
DATA tileIdx4<>+40(SB)/8, $0x0000000000000000
DATA tileIdx4<>+48(SB)/8, $0x0000000100000001
DATA tileIdx4<>+56(SB)/8, $0x0000000100000001
GLOBL tileIdx4<>(SB), RODATA|NOPTR, $64

// ROWSCALES widens the pair's two fp16 scales (at 0 and off of ptr) into
// the lanes of zs.
#define ROWSCALES(ptr, off, xs, zs) \
	VMOVD (ptr), xs; \
	VPINSRW $1, off(ptr), xs, xs; \
	VCVTPH2PS xs, xs; \
	VPERMPS zs, Z28, zs

// Q8ROW: the row's 64 int8 weights + 128 as unsigned bytes.
#define Q8ROW(ptr, yw, zw, xs, zs) \
	VMOVDQU 2(ptr), yw; \
	VINSERTI64X4 $1, 36(ptr), zw, zw; \
	VPXORD Z27, zw, zw; \
	ROWSCALES(ptr, 34, xs, zs)

// Q4ROW: the two blocks' 16 nibble bytes side by side, the high nibbles
// above them (the order of the permuted activations).
#define Q4ROW(ptr, xw, yw, zw, xs, zs) \
	VMOVDQU 2(ptr), xw; \
	VINSERTI128 $1, 20(ptr), yw, yw; \
	VPSRLW $4, yw, Y3; \
	VINSERTI64X4 $1, Y3, zw, zw; \
	VPANDD Z30, zw, zw; \
	ROWSCALES(ptr, 18, xs, zs)

#define ROWTOK(zw, zs, acc) \
	VMOVDQA64 Z31, Z3; \
	VPDPBUSD Z0, zw, Z3; \
	VCVTDQ2PS Z3, Z3; \
	VMULPS Z29, zs, Z9; \
	VFMADD231PS Z9, Z3, acc

#define TOKEN(j, a0, a1, a2, a3) \
	VMOVDQU64 (64*j)(DI), Z0; \
	VMOVDQU64 (256+64*j)(DI), Z31; \
	VMOVUPS (512+64*j)(DI), Z29; \
	ROWTOK(Z1, Z4, a0); \
	ROWTOK(Z2, Z5, a1); \
	ROWTOK(Z6, Z8, a2); \
	ROWTOK(Z7, Z26, a3)

#define TOKENS \
	TOKEN(0, Z10, Z11, Z12, Z13); \
	TOKEN(1, Z14, Z15, Z16, Z17); \
	TOKEN(2, Z18, Z19, Z20, Z21); \
	TOKEN(3, Z22, Z23, Z24, Z25)

#define HSUM(zacc, yacc, off) \
	VEXTRACTF64X4 $1, zacc, Y3; \
	VADDPS Y3, yacc, Y3; \
	VEXTRACTF128 $1, Y3, X9; \
	VADDPS X9, X3, X3; \
	VPERMILPS $0x4E, X3, X9; \
	VADDPS X9, X3, X3; \
	VPERMILPS $0xB1, X3, X9; \
	VADDPS X9, X3, X3; \
	VMOVSS X3, off(AX)

#define TILESETUP \
	MOVQ w+0(FP), SI; \
	MOVQ rowBytes+8(FP), BX; \
	LEAQ (SI)(BX*1), R10; \
	LEAQ (R10)(BX*1), R11; \
	LEAQ (R11)(BX*1), R12; \
	MOVQ a+16(FP), DI; \
	MOVQ n+24(FP), CX; \
	VPXORD Z10, Z10, Z10; \
	VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15; \
	VPXORD Z16, Z16, Z16; \
	VPXORD Z17, Z17, Z17; \
	VPXORD Z18, Z18, Z18; \
	VPXORD Z19, Z19, Z19; \
	VPXORD Z20, Z20, Z20; \
	VPXORD Z21, Z21, Z21; \
	VPXORD Z22, Z22, Z22; \
	VPXORD Z23, Z23, Z23; \
	VPXORD Z24, Z24, Z24; \
	VPXORD Z25, Z25, Z25

#define TILESTORE \
	MOVQ out+32(FP), AX; \
	HSUM(Z10, Y10, 0); \
	HSUM(Z11, Y11, 4); \
	HSUM(Z12, Y12, 8); \
	HSUM(Z13, Y13, 12); \
	HSUM(Z14, Y14, 16); \
	HSUM(Z15, Y15, 20); \
	HSUM(Z16, Y16, 24); \
	HSUM(Z17, Y17, 28); \
	HSUM(Z18, Y18, 32); \
	HSUM(Z19, Y19, 36); \
	HSUM(Z20, Y20, 40); \
	HSUM(Z21, Y21, 44); \
	HSUM(Z22, Y22, 48); \
	HSUM(Z23, Y23, 52); \
	HSUM(Z24, Y24, 56); \
	HSUM(Z25, Y25, 60); \
	VZEROUPPER

// func vnniTileQ8_0(w *byte, rowBytes int, a *byte, n int, out *float32)
// 4 rows (rowBytes apart) of 2n Q8_0 blocks against the 4 tokens packed at
// a (768 bytes per pair); out[4j+r] = token j · row r.
TEXT ·vnniTileQ8_0(SB), NOSPLIT, $0-40
	TILESETUP
	VMOVDQU64 tileIdx8<>(SB), Z28
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Z27
	TESTQ CX, CX
	JZ t8done
t8loop:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1024(R10)
	PREFETCHT0 1024(R11)
	PREFETCHT0 1024(R12)
	Q8ROW(SI, Y1, Z1, X4, Z4)
	Q8ROW(R10, Y2, Z2, X5, Z5)
	Q8ROW(R11, Y6, Z6, X8, Z8)
	Q8ROW(R12, Y7, Z7, X26, Z26)
	TOKENS
	ADDQ $68, SI
	ADDQ $68, R10
	ADDQ $68, R11
	ADDQ $68, R12
	ADDQ $768, DI
	DECQ CX
	JNZ t8loop
t8done:
	TILESTORE
	RET

// func vnniTileQ4_0(w *byte, rowBytes int, a *byte, n int, out *float32)
// As vnniTileQ8_0 for Q4_0 blocks (the activations in permuted order).
TEXT ·vnniTileQ4_0(SB), NOSPLIT, $0-40
	TILESETUP
	VMOVDQU64 tileIdx4<>(SB), Z28
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z30
	TESTQ CX, CX
	JZ t4done
t4loop:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1024(R10)
	PREFETCHT0 1024(R11)
	PREFETCHT0 1024(R12)
	Q4ROW(SI, X1, Y1, Z1, X4, Z4)
	Q4ROW(R10, X2, Y2, Z2, X5, Z5)
	Q4ROW(R11, X6, Y6, Z6, X8, Z8)
	Q4ROW(R12, X7, Y7, Z7, X26, Z26)
	TOKENS
	ADDQ $36, SI
	ADDQ $36, R10
	ADDQ $36, R11
	ADDQ $36, R12
	ADDQ $768, DI
	DECQ CX
	JNZ t4loop
t4done:
	TILESTORE
	RET
