//go:build goexperiment.simd && amd64

#include "textflag.h"

// func quantizeBlocksAVX512(x *float32, nb, k int, qs *int8, d *float32, s16 *int16)
// Quantizes nb blocks of 16k float32 values, as qact.quantizeRows does in
// Go, with the same float32 operations in the same order per value (so the
// results are identical): amax as the largest of the values' bits with the
// sign cleared, d = amax/127, id = 1/d (0 when d is 0), q = round-to-even
// (x·id) (VCVTPS2DQ in its default mode; a NaN or out-of-range product
// gives 0x80000000, whose low byte is 0, as nearestInt's bit trick gives 0),
// and the sum of each 16 q.
TEXT ·quantizeBlocksAVX512(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ qs+24(FP), DI
	MOVQ d+32(FP), DX
	MOVQ s16+40(FP), R8
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z31
	MOVL $0x42fe0000, AX        // 127.0
	VMOVD AX, X30
	MOVL $0x3f800000, AX        // 1.0
	VMOVD AX, X29
	VXORPS X28, X28, X28
	TESTQ CX, CX
	JZ qbdone
qbblock:
	MOVQ k+16(FP), BX
	MOVQ SI, R9
	VPXORD Z1, Z1, Z1
qbmax:
	VPANDD (R9), Z31, Z0
	VPMAXUD Z0, Z1, Z1
	ADDQ $64, R9
	DECQ BX
	JNZ qbmax
	VEXTRACTI64X4 $1, Z1, Y0
	VPMAXUD Y0, Y1, Y1
	VEXTRACTI128 $1, Y1, X0
	VPMAXUD X0, X1, X1
	VPSHUFD $0x4E, X1, X0
	VPMAXUD X0, X1, X1
	VPSHUFD $0xB1, X1, X0
	VPMAXUD X0, X1, X1          // X1: amax
	VDIVSS X30, X1, X2          // d = amax/127
	VMOVSS X2, (DX)
	VDIVSS X2, X29, X3          // id = 1/d
	VUCOMISS X28, X2
	JNE qbid
	JP qbid
	VXORPS X3, X3, X3           // d == 0: id = 0
qbid:
	VBROADCASTSS X3, Z3
	MOVQ k+16(FP), BX
qbq:
	VMULPS (SI), Z3, Z0
	VCVTPS2DQ Z0, Z0
	VPMOVDB Z0, (DI)
	VEXTRACTI64X4 $1, Z0, Y4
	VPADDD Y4, Y0, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD X5, X4, X4
	VPSHUFD $0x4E, X4, X5
	VPADDD X5, X4, X4
	VPSHUFD $0xB1, X4, X5
	VPADDD X5, X4, X4
	VMOVD X4, AX
	MOVW AX, (R8)
	ADDQ $64, SI
	ADDQ $16, DI
	ADDQ $2, R8
	DECQ BX
	JNZ qbq
	ADDQ $4, DX
	DECQ CX
	JNZ qbblock
qbdone:
	VZEROUPPER
	RET
