//go:build goexperiment.simd && amd64

#include "textflag.h"

// Panel kernel for Q8_0 and Q4_0 batches (see quantpanel.go): 16 weight
// rows × 4 tokens per call, with each vector lane a different row. The
// rows are repacked per 32-value block into 8 vectors of 16 rows × 4
// consecutive unsigned weights (Q8_0 shifted by +128, Q4_0's nibbles as
// they are) and 16 float row scales; a token's 4 activations at a time
// are broadcast (VPDPBUSD's embedded broadcast), so one VPDPBUSD makes
// 64 products for 16 rows and the float work (convert, scale, add) comes
// once per block and token, not per 64 products. Each token's block
// brings 32 int8 values, its float scale and its int32 offset term
// (-128·Σq for Q8_0, -8·Σq for Q4_0), which starts the block's sums.
//
// Registers: Z0-Z7 the block's weights, Z8 the row scales, Z9-Z16 two
// integer sums per token, Z20-Z23 the tokens' float sums, Z17 Z18 temps.

#define FINISH(p, ia, ib, acc) \
	VPADDD ib, ia, ia; \
	VCVTDQ2PS ia, ia; \
	VMULPS.BCST 32(p), Z8, Z17; \
	VFMADD231PS Z17, ia, acc

// func vnniPanel(panel *byte, a *byte, stride int, nb int, out *float32)
// panel: nb blocks of 576 bytes; a: token 0's nb blocks of 40 bytes, the
// next tokens stride bytes apart; out[16j+r] = token j · row r.
TEXT ·vnniPanel(SB), NOSPLIT, $0-40
	MOVQ panel+0(FP), BX
	MOVQ a+8(FP), DI
	MOVQ stride+16(FP), AX
	LEAQ (DI)(AX*1), R8
	LEAQ (R8)(AX*1), R9
	LEAQ (R9)(AX*1), R10
	MOVQ nb+24(FP), CX
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	TESTQ CX, CX
	JZ pdone
ploop:
	VMOVDQU64 0(BX), Z0
	VMOVDQU64 64(BX), Z1
	VMOVDQU64 128(BX), Z2
	VMOVDQU64 192(BX), Z3
	VMOVDQU64 256(BX), Z4
	VMOVDQU64 320(BX), Z5
	VMOVDQU64 384(BX), Z6
	VMOVDQU64 448(BX), Z7
	VMOVUPS 512(BX), Z8
	VPBROADCASTD 36(DI), Z9
	VPBROADCASTD 36(R8), Z11
	VPBROADCASTD 36(R9), Z13
	VPBROADCASTD 36(R10), Z15
	VPXORD Z10, Z10, Z10
	VPXORD Z12, Z12, Z12
	VPXORD Z14, Z14, Z14
	VPXORD Z16, Z16, Z16
	VPDPBUSD.BCST 0(DI), Z0, Z9
	VPDPBUSD.BCST 0(R8), Z0, Z11
	VPDPBUSD.BCST 0(R9), Z0, Z13
	VPDPBUSD.BCST 0(R10), Z0, Z15
	VPDPBUSD.BCST 4(DI), Z1, Z10
	VPDPBUSD.BCST 4(R8), Z1, Z12
	VPDPBUSD.BCST 4(R9), Z1, Z14
	VPDPBUSD.BCST 4(R10), Z1, Z16
	VPDPBUSD.BCST 8(DI), Z2, Z9
	VPDPBUSD.BCST 8(R8), Z2, Z11
	VPDPBUSD.BCST 8(R9), Z2, Z13
	VPDPBUSD.BCST 8(R10), Z2, Z15
	VPDPBUSD.BCST 12(DI), Z3, Z10
	VPDPBUSD.BCST 12(R8), Z3, Z12
	VPDPBUSD.BCST 12(R9), Z3, Z14
	VPDPBUSD.BCST 12(R10), Z3, Z16
	VPDPBUSD.BCST 16(DI), Z4, Z9
	VPDPBUSD.BCST 16(R8), Z4, Z11
	VPDPBUSD.BCST 16(R9), Z4, Z13
	VPDPBUSD.BCST 16(R10), Z4, Z15
	VPDPBUSD.BCST 20(DI), Z5, Z10
	VPDPBUSD.BCST 20(R8), Z5, Z12
	VPDPBUSD.BCST 20(R9), Z5, Z14
	VPDPBUSD.BCST 20(R10), Z5, Z16
	VPDPBUSD.BCST 24(DI), Z6, Z9
	VPDPBUSD.BCST 24(R8), Z6, Z11
	VPDPBUSD.BCST 24(R9), Z6, Z13
	VPDPBUSD.BCST 24(R10), Z6, Z15
	VPDPBUSD.BCST 28(DI), Z7, Z10
	VPDPBUSD.BCST 28(R8), Z7, Z12
	VPDPBUSD.BCST 28(R9), Z7, Z14
	VPDPBUSD.BCST 28(R10), Z7, Z16
	FINISH(DI, Z9, Z10, Z20)
	FINISH(R8, Z11, Z12, Z21)
	FINISH(R9, Z13, Z14, Z22)
	FINISH(R10, Z15, Z16, Z23)
	ADDQ $576, BX
	ADDQ $40, DI
	ADDQ $40, R8
	ADDQ $40, R9
	ADDQ $40, R10
	DECQ CX
	JNZ ploop
pdone:
	MOVQ out+32(FP), AX
	VMOVUPS Z20, 0(AX)
	VMOVUPS Z21, 64(AX)
	VMOVUPS Z22, 128(AX)
	VMOVUPS Z23, 192(AX)
	VZEROUPPER
	RET

// The K-quant panel kernel: units of 32 values with two row-scale vectors
// (values 0-15 and 16-31: Q6_K's groups of 16; the same twice for Q4_K and
// Q5_K) and a min vector (Q4_K, Q5_K: -dmin·m per row). A unit is 704
// bytes: 8 weight vectors, the low and high scales, the mins. A token's
// unit is 48 bytes: 32 int8, the float scale, the two int32 starting sums
// (Q6_K's -32·Σq per 16 values) and the float scale·Σq of the 32 values
// (for the mins). Z9-Z16 hold the sums of weights 0-15
// (odd registers) and 16-31 (even) per token.

#define KFINISH(p, ia, ib, acc) \
	VCVTDQ2PS ia, ia; \
	VCVTDQ2PS ib, ib; \
	VMULPS.BCST 32(p), Z8, Z17; \
	VMULPS.BCST 32(p), Z24, Z18; \
	VFMADD231PS Z17, ia, acc; \
	VFMADD231PS Z18, ib, acc; \
	VFMADD231PS.BCST 44(p), Z25, acc

// func vnniPanelK(panel *byte, a *byte, stride int, nu int, out *float32)
TEXT ·vnniPanelK(SB), NOSPLIT, $0-40
	MOVQ panel+0(FP), BX
	MOVQ a+8(FP), DI
	MOVQ stride+16(FP), AX
	LEAQ (DI)(AX*1), R8
	LEAQ (R8)(AX*1), R9
	LEAQ (R9)(AX*1), R10
	MOVQ nu+24(FP), CX
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	TESTQ CX, CX
	JZ pkdone
pkloop:
	VMOVDQU64 0(BX), Z0
	VMOVDQU64 64(BX), Z1
	VMOVDQU64 128(BX), Z2
	VMOVDQU64 192(BX), Z3
	VMOVDQU64 256(BX), Z4
	VMOVDQU64 320(BX), Z5
	VMOVDQU64 384(BX), Z6
	VMOVDQU64 448(BX), Z7
	VMOVUPS 512(BX), Z8
	VMOVUPS 576(BX), Z24
	VMOVUPS 640(BX), Z25
	VPBROADCASTD 36(DI), Z9
	VPBROADCASTD 36(R8), Z11
	VPBROADCASTD 36(R9), Z13
	VPBROADCASTD 36(R10), Z15
	VPBROADCASTD 40(DI), Z10
	VPBROADCASTD 40(R8), Z12
	VPBROADCASTD 40(R9), Z14
	VPBROADCASTD 40(R10), Z16
	VPDPBUSD.BCST 0(DI), Z0, Z9
	VPDPBUSD.BCST 0(R8), Z0, Z11
	VPDPBUSD.BCST 0(R9), Z0, Z13
	VPDPBUSD.BCST 0(R10), Z0, Z15
	VPDPBUSD.BCST 16(DI), Z4, Z10
	VPDPBUSD.BCST 16(R8), Z4, Z12
	VPDPBUSD.BCST 16(R9), Z4, Z14
	VPDPBUSD.BCST 16(R10), Z4, Z16
	VPDPBUSD.BCST 4(DI), Z1, Z9
	VPDPBUSD.BCST 4(R8), Z1, Z11
	VPDPBUSD.BCST 4(R9), Z1, Z13
	VPDPBUSD.BCST 4(R10), Z1, Z15
	VPDPBUSD.BCST 20(DI), Z5, Z10
	VPDPBUSD.BCST 20(R8), Z5, Z12
	VPDPBUSD.BCST 20(R9), Z5, Z14
	VPDPBUSD.BCST 20(R10), Z5, Z16
	VPDPBUSD.BCST 8(DI), Z2, Z9
	VPDPBUSD.BCST 8(R8), Z2, Z11
	VPDPBUSD.BCST 8(R9), Z2, Z13
	VPDPBUSD.BCST 8(R10), Z2, Z15
	VPDPBUSD.BCST 24(DI), Z6, Z10
	VPDPBUSD.BCST 24(R8), Z6, Z12
	VPDPBUSD.BCST 24(R9), Z6, Z14
	VPDPBUSD.BCST 24(R10), Z6, Z16
	VPDPBUSD.BCST 12(DI), Z3, Z9
	VPDPBUSD.BCST 12(R8), Z3, Z11
	VPDPBUSD.BCST 12(R9), Z3, Z13
	VPDPBUSD.BCST 12(R10), Z3, Z15
	VPDPBUSD.BCST 28(DI), Z7, Z10
	VPDPBUSD.BCST 28(R8), Z7, Z12
	VPDPBUSD.BCST 28(R9), Z7, Z14
	VPDPBUSD.BCST 28(R10), Z7, Z16
	KFINISH(DI, Z9, Z10, Z20)
	KFINISH(R8, Z11, Z12, Z21)
	KFINISH(R9, Z13, Z14, Z22)
	KFINISH(R10, Z15, Z16, Z23)
	ADDQ $704, BX
	ADDQ $48, DI
	ADDQ $48, R8
	ADDQ $48, R9
	ADDQ $48, R10
	DECQ CX
	JNZ pkloop
pkdone:
	MOVQ out+32(FP), AX
	VMOVUPS Z20, 0(AX)
	VMOVUPS Z21, 64(AX)
	VMOVUPS Z22, 128(AX)
	VMOVUPS Z23, 192(AX)
	VZEROUPPER
	RET
