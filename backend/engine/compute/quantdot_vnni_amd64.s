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
// Register use: Z0, Z5-Z7 accumulators; Z26-Z31 constants.

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

// func vnniQ8_0(w *byte, x *int8, scale *float32, n int) uint32
// n pairs of Q8_0 blocks (68 bytes, 64 values); scale: one float per block.
TEXT ·vnniQ8_0(SB), NOSPLIT, $0-36
	SETUP
	TESTQ CX, CX
	JZ q80done
q80loop:
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

// Q4KCHUNK handles values 64c…64c+63 of a Q4_K/Q5_K block: the 32 bytes at
// qoff(SI) give the low nibbles (first 32 values) and the high nibbles.
#define Q4KCHUNK(qoff, xoff, soff, acc) \
	VMOVDQU qoff(SI), Y1; \
	VPSRLW $4, Y1, Y2; \
	VINSERTI64X4 $1, Y2, Z1, Z1; \
	VPANDD Z30, Z1, Z1; \
	VPXORD Z3, Z3, Z3; \
	VPDPBUSD xoff(DI), Z1, Z3; \
	SCALE2(soff, acc)

// func vnniQ4_K(w *byte, x *int8, scale *float32, n int) uint32
// n Q4_K blocks (144 bytes); scale: 8 floats per block (d·sc_j·d_x).
TEXT ·vnniQ4_K(SB), NOSPLIT, $0-36
	SETUP
	TESTQ CX, CX
	JZ q4kdone
q4kloop:
	Q4KCHUNK(16, 0, 0, Z0)
	Q4KCHUNK(48, 64, 8, Z5)
	Q4KCHUNK(80, 128, 16, Z6)
	Q4KCHUNK(112, 192, 24, Z7)
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $32, DX
	DECQ CX
	JNZ q4kloop
q4kdone:
	SUM_ACCS
	REDUCE
	MOVL AX, ret+32(FP)
	RET

// Q5KCHUNK adds the fifth bit from Z8 = [qh, qh>>1] shifted right by 2c.
#define Q5KCHUNK(qoff, xoff, soff, acc) \
	VMOVDQU qoff(SI), Y1; \
	VPSRLW $4, Y1, Y2; \
	VINSERTI64X4 $1, Y2, Z1, Z1; \
	VPANDD Z30, Z1, Z1; \
	VPSLLW $4, Z8, Z9; \
	VPANDD Z28, Z9, Z9; \
	VPORD Z9, Z1, Z1; \
	VPSRLW $2, Z8, Z8; \
	VPXORD Z3, Z3, Z3; \
	VPDPBUSD xoff(DI), Z1, Z3; \
	SCALE2(soff, acc)

// func vnniQ5_K(w *byte, x *int8, scale *float32, n int) uint32
// n Q5_K blocks (176 bytes); scale: 8 floats per block.
TEXT ·vnniQ5_K(SB), NOSPLIT, $0-36
	SETUP
	TESTQ CX, CX
	JZ q5kdone
q5kloop:
	VMOVDQU 16(SI), Y8
	VPSRLW $1, Y8, Y9
	VINSERTI64X4 $1, Y9, Z8, Z8
	Q5KCHUNK(48, 0, 0, Z0)
	Q5KCHUNK(80, 64, 8, Z5)
	Q5KCHUNK(112, 128, 16, Z6)
	Q5KCHUNK(144, 192, 24, Z7)
	ADDQ $176, SI
	ADDQ $256, DI
	ADDQ $32, DX
	DECQ CX
	JNZ q5kloop
q5kdone:
	SUM_ACCS
	REDUCE
	MOVL AX, ret+32(FP)
	RET

// Q6KHALF handles values 128h…128h+127 of a Q6_K block: Z1 = the 64 ql
// bytes, Z2 = [qh, qh>>2] of the half.
#define Q6KHALF(h, acc0, acc1) \
	VMOVDQU64 (64*h)(SI), Z1; \
	VMOVDQU (128+32*h)(SI), Y2; \
	VPSRLW $2, Y2, Y10; \
	VINSERTI64X4 $1, Y10, Z2, Z2; \
	VPANDD Z30, Z1, Z11; \
	VPSLLW $4, Z2, Z12; \
	VPANDD Z27, Z12, Z12; \
	VPORD Z12, Z11, Z11; \
	VPXORD Z3, Z3, Z3; \
	VPDPBUSD (128*h)(DI), Z11, Z3; \
	SCALE4(32*h, acc0); \
	VPSRLW $4, Z1, Z11; \
	VPANDD Z30, Z11, Z11; \
	VPANDD Z27, Z2, Z12; \
	VPORD Z12, Z11, Z11; \
	VPXORD Z3, Z3, Z3; \
	VPDPBUSD (128*h+64)(DI), Z11, Z3; \
	SCALE4(32*h+16, acc1)

// func vnniQ6_K(w *byte, x *int8, scale *float32, n int) uint32
// n Q6_K blocks (210 bytes); scale: 16 floats per block (d·sc_g·d_x).
TEXT ·vnniQ6_K(SB), NOSPLIT, $0-36
	SETUP
	TESTQ CX, CX
	JZ q6kdone
q6kloop:
	Q6KHALF(0, Z0, Z5)
	Q6KHALF(1, Z6, Z7)
	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $64, DX
	DECQ CX
	JNZ q6kloop
q6kdone:
	SUM_ACCS
	REDUCE
	MOVL AX, ret+32(FP)
	RET
