//go:build goexperiment.simd && amd64

#include "textflag.h"

// Decode-attention kernels (AVX-512; see attend_amd64.go): one query head
// against n cached positions, head size a multiple of 16, the positions
// stride floats apart. They replace a dot product and an axpy call per
// position.

// func attnScores16(q *float32, k *float32, stride, n, chunks int, scale float32, s *float32)
// s[j] = scale · Σ_c q[16c:16c+16]·k[j·stride+16c:…], chunks = hd/16.
TEXT ·attnScores16(SB), NOSPLIT, $0-56
	MOVQ q+0(FP), SI
	MOVQ k+8(FP), DI
	MOVQ stride+16(FP), BX
	SHLQ $2, BX
	MOVQ n+24(FP), CX
	MOVQ chunks+32(FP), R8
	VBROADCASTSS scale+40(FP), X6
	MOVQ s+48(FP), DX
	TESTQ CX, CX
	JZ asdone
asloop:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	MOVQ R8, R9
	XORQ R10, R10
aschunk:
	VMOVUPS (DI)(R10*1), Z2
	VFMADD231PS (SI)(R10*1), Z2, Z0
	ADDQ $64, R10
	DECQ R9
	JNZ aschunk
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VPERMILPS $0x4E, X0, X1
	VADDPS X1, X0, X0
	VPERMILPS $0xB1, X0, X1
	VADDPS X1, X0, X0
	VMULSS X6, X0, X0
	VMOVSS X0, (DX)
	ADDQ $4, DX
	ADDQ BX, DI
	DECQ CX
	JNZ asloop
asdone:
	VZEROUPPER
	RET

// func attnWeighted16(out *float32, s *float32, v *float32, stride, n, chunks int)
// out[0:16·chunks] = Σ_j s[j]·v[j·stride:…], 4 chunks (64 floats) at a
// time in registers across all positions.
TEXT ·attnWeighted16(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), AX
	MOVQ stride+24(FP), BX
	SHLQ $2, BX
	MOVQ chunks+40(FP), R8
awgroup:
	MOVQ s+8(FP), SI
	MOVQ v+16(FP), DI
	MOVQ n+32(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	CMPQ R8, $4
	JB awsmall
	TESTQ CX, CX
	JZ awstore4
aw4:
	VBROADCASTSS (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z4, Z1
	VFMADD231PS 128(DI), Z4, Z2
	VFMADD231PS 192(DI), Z4, Z3
	ADDQ $4, SI
	ADDQ BX, DI
	DECQ CX
	JNZ aw4
awstore4:
	VMOVUPS Z0, (AX)
	VMOVUPS Z1, 64(AX)
	VMOVUPS Z2, 128(AX)
	VMOVUPS Z3, 192(AX)
	ADDQ $256, AX
	MOVQ v+16(FP), DI
	ADDQ $256, DI
	MOVQ DI, v+16(FP)
	SUBQ $4, R8
	JNZ awgroup
	JMP awdone
awsmall:                          // 1-3 chunks left: one at a time
	TESTQ CX, CX
	JZ awstore1
aw1:
	VBROADCASTSS (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ $4, SI
	ADDQ BX, DI
	DECQ CX
	JNZ aw1
awstore1:
	VMOVUPS Z0, (AX)
	ADDQ $64, AX
	MOVQ v+16(FP), DI
	ADDQ $64, DI
	MOVQ DI, v+16(FP)
	DECQ R8
	JNZ awgroup
awdone:
	VZEROUPPER
	RET
