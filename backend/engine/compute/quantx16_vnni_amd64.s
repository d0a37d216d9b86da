//go:build goexperiment.simd && amd64

#include "textflag.h"

// The x16 decode kernels (see quantx16.go for the layouts): 16 rows per
// panel, one row per int32 lane. Each 64-byte vector of nibbles gives two
// vectors of 16 rows × 4 weights (VPANDD; VPSRLW then VPANDD), and each of
// those one VPDPBUSD against 4 activations broadcast from memory: 64
// products per instruction (Q8_0's vectors go to VPDPBUSD as they are). Integer sums are scaled per sub-block with
// VPMULLD (the K-quants' 6- and 8-bit scales) and converted to float once
// per block, so a panel's 16 results accumulate in one register with no
// horizontal sums. Offsets come in through the activation sums: Q4_0's -8
// and Q6_K's -32 start each sub-block's integer sum (negs), Q4_K's mins
// are one VPDPWSSD per pair of sub-blocks against the sums of 32
// activations.
//
// Every kernel reads two panels at once, a and b, from two places of the
// matrix, alternating a few hundred bytes of each: one core then keeps two
// sequential streams going, which the hardware prefetchers follow with
// twice the reads in flight. One stream per core read 20–30 % below the
// bandwidth a multi-stream read reaches on the same core; alternating at
// 8 KB gained nothing, at 512 B all of it. Each unit is read front to back
// (splitting a block's bits into regions of their own halved the rate).
//
// The Q4_0, Q4_K and Q5_K kernels load each 64-byte vector of weights
// once, into a register that both of its nibble halves come from. No
// kernel issues software prefetches: each reads its units front to back
// (see the Q6_K layout in quantx16.go), and the hardware prefetchers
// follow the two streams. When the host put our two cores on different
// dies (README, "high-bandwidth episodes"), a kernel of this shape
// streamed 45–51 GB/s that way, against 41–46 GB/s with each vector read
// twice as a memory operand and PREFETCHT0 2.3 KB ahead; 32000×768
// mat-vecs gained 4–9 % (Q4_0, Q4_K) and 1–5 % (Q5_K), in both host
// states. The Q6_K kernel reads its unit's three parts in the order they
// lie in, and keeps its memory operands: loading its vectors once lost
// 7–10 % (in its earlier layout).
//
// Arguments (all kernels): a and b the first panels of the two streams,
// pairs how many panels each, x the int8 activations, dx their float scale
// per block, negs or sums (above), units per panel, outA and outB 16
// floats per panel. Registers: SI and DI the weights of a and b, BX DX R8
// the activations, scales and sums of the current unit, CX units left,
// R10 pairs left, R9 and R11 out; Z31 0x0F bytes, Z30 0x30 bytes; Z0 and
// Z5 the panels' sums; Z3 (Z6 in Q5_K) the weight vector being unpacked.
// All end with VZEROUPPER.

#define X16SETUP \
	MOVQ a+0(FP), SI; \
	MOVQ b+8(FP), DI; \
	MOVQ pairs+16(FP), R10; \
	MOVQ outA+56(FP), R9; \
	MOVQ outB+64(FP), R11; \
	MOVL $0x0F0F0F0F, AX; \
	VPBROADCASTD AX, Z31; \
	MOVL $0x30303030, AX; \
	VPBROADCASTD AX, Z30

#define X16PANEL \
	MOVQ x+24(FP), BX; \
	MOVQ dx+32(FP), DX; \
	MOVQ negs+40(FP), R8; \
	MOVQ units+48(FP), CX; \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z5, Z5, Z5

#define X16NEXTUNIT(bytes, xbytes, dxbytes, nbytes, loop) \
	ADDQ $bytes, SI; \
	ADDQ $bytes, DI; \
	ADDQ $xbytes, BX; \
	ADDQ $dxbytes, DX; \
	ADDQ $nbytes, R8; \
	DECQ CX; \
	JNZ loop

#define X16NEXT(loop) \
	VMOVUPS Z0, (R9); \
	VMOVUPS Z5, (R11); \
	ADDQ $64, R9; \
	ADDQ $64, R11; \
	DECQ R10; \
	JNZ loop; \
	VZEROUPPER; \
	RET

// NIBBLEDOT adds to acc the products of the 32 values at off(w) (16 rows
// × 4 in the low nibbles, 4 more in the high ones) with the activations at
// xlo(BX) and xhi(BX).
#define NIBBLEDOT(w, off, xlo, xhi, acc) \
	VMOVDQU64 off(w), Z3; \
	VPANDD Z3, Z31, Z1; \
	VPSRLW $4, Z3, Z2; \
	VPANDD Z31, Z2, Z2; \
	VPDPBUSD.BCST xlo(BX), Z1, acc; \
	VPDPBUSD.BCST xhi(BX), Z2, acc

// Q40UNIT adds one Q4_0 unit at w (integer sums in s0 and s1) to acc.
#define Q40UNIT(w, s0, s1, acc) \
	VPBROADCASTD 0(R8), s0; \
	VPBROADCASTD 4(R8), s1; \
	NIBBLEDOT(w, 0, 0, 16, s0); \
	NIBBLEDOT(w, 64, 4, 20, s0); \
	NIBBLEDOT(w, 128, 8, 24, s0); \
	NIBBLEDOT(w, 192, 12, 28, s0); \
	NIBBLEDOT(w, 256, 32, 48, s1); \
	NIBBLEDOT(w, 320, 36, 52, s1); \
	NIBBLEDOT(w, 384, 40, 56, s1); \
	NIBBLEDOT(w, 448, 44, 60, s1); \
	VCVTDQ2PS s0, s0; \
	VCVTPH2PS 512(w), Z16; \
	VMULPS.BCST 0(DX), Z16, Z16; \
	VFMADD231PS Z16, s0, acc; \
	VCVTDQ2PS s1, s1; \
	VCVTPH2PS 544(w), Z17; \
	VMULPS.BCST 4(DX), Z17, Z17; \
	VFMADD231PS Z17, s1, acc

// BYTEDOT adds to acc the products of the 4 values per row at off(w)
// (Q8_0's, +128) with the activations at xoff(BX).
#define BYTEDOT(w, off, xoff, acc) \
	VMOVDQU64 off(w), Z1; \
	VPDPBUSD.BCST xoff(BX), Z1, acc

// Q80UNIT adds one Q8_0 unit at w (integer sums in s0 and s1) to acc.
#define Q80UNIT(w, s0, s1, acc) \
	VPBROADCASTD 0(R8), s0; \
	VPBROADCASTD 4(R8), s1; \
	BYTEDOT(w, 0, 0, s0); \
	BYTEDOT(w, 64, 4, s0); \
	BYTEDOT(w, 128, 8, s0); \
	BYTEDOT(w, 192, 12, s0); \
	BYTEDOT(w, 256, 16, s0); \
	BYTEDOT(w, 320, 20, s0); \
	BYTEDOT(w, 384, 24, s0); \
	BYTEDOT(w, 448, 28, s0); \
	BYTEDOT(w, 512, 32, s1); \
	BYTEDOT(w, 576, 36, s1); \
	BYTEDOT(w, 640, 40, s1); \
	BYTEDOT(w, 704, 44, s1); \
	BYTEDOT(w, 768, 48, s1); \
	BYTEDOT(w, 832, 52, s1); \
	BYTEDOT(w, 896, 56, s1); \
	BYTEDOT(w, 960, 60, s1); \
	VCVTDQ2PS s0, s0; \
	VCVTPH2PS 1024(w), Z16; \
	VMULPS.BCST 0(DX), Z16, Z16; \
	VFMADD231PS Z16, s0, acc; \
	VCVTDQ2PS s1, s1; \
	VCVTPH2PS 1056(w), Z17; \
	VMULPS.BCST 4(DX), Z17, Z17; \
	VFMADD231PS Z17, s1, acc

// func x16Q8_0(a, b *byte, pairs int, x *int8, dx *float32, negs *int32, units int, outA, outB *float32)
// units of 2 blocks (1088 bytes); negs: -128·Σq per block of 32 activations.
TEXT ·x16Q8_0(SB), NOSPLIT, $0-72
	X16SETUP
q80panel:
	X16PANEL
q80unit:
	Q80UNIT(SI, Z10, Z11, Z0)
	Q80UNIT(DI, Z12, Z13, Z5)
	X16NEXTUNIT(1088, 64, 8, 8, q80unit)
	X16NEXT(q80panel)

// func x16Q4_0(a, b *byte, pairs int, x *int8, dx *float32, negs *int32, units int, outA, outB *float32)
// units of 2 blocks (576 bytes); negs: -8·Σq per block of 32 activations.
TEXT ·x16Q4_0(SB), NOSPLIT, $0-72
	X16SETUP
q40panel:
	X16PANEL
q40unit:
	Q40UNIT(SI, Z10, Z11, Z0)
	Q40UNIT(DI, Z12, Z13, Z5)
	X16NEXTUNIT(576, 64, 8, 8, q40unit)
	X16NEXT(q40panel)

// Q4KSUB sums sub-block j of the Q4_K unit at w into acc (unscaled).
#define Q4KSUB(w, j, acc) \
	VPXORD acc, acc, acc; \
	NIBBLEDOT(w, 256*j, 32*j, 32*j+16, acc); \
	NIBBLEDOT(w, 256*j+64, 32*j+4, 32*j+20, acc); \
	NIBBLEDOT(w, 256*j+128, 32*j+8, 32*j+24, acc); \
	NIBBLEDOT(w, 256*j+192, 32*j+12, 32*j+28, acc)

// KSCALE multiplies acc by the 16 rows' scales of sub-block j (at base(w)).
#define KSCALE(w, base, j, acc) \
	VPMOVZXBD (base+16*j)(w), Z16; \
	VPMULLD Z16, acc, acc

// KMINS adds to Z17 the mins (at base(w)) of sub-blocks 2k, 2k+1 times
// the sums of their activations.
#define KMINS(w, base, k) \
	VPMOVZXBW (base+32*k)(w), Z16; \
	VPDPWSSD.BCST (4*k)(R8), Z16, Z17

// KFINISH scales the sub-block sums (s0-s7, scales at sc(w)) and the mins
// (at mins(w)) of a Q4_K or Q5_K unit and adds them to acc with the 16
// rows' d and dmin (fp16 at dd(w), dd+32(w)) times the activations' scale.
#define KFINISH(w, sc, mins, dd, s0, s1, s2, s3, s4, s5, s6, s7, acc) \
	KSCALE(w, sc, 0, s0); \
	KSCALE(w, sc, 1, s1); \
	KSCALE(w, sc, 2, s2); \
	KSCALE(w, sc, 3, s3); \
	KSCALE(w, sc, 4, s4); \
	KSCALE(w, sc, 5, s5); \
	KSCALE(w, sc, 6, s6); \
	KSCALE(w, sc, 7, s7); \
	VPADDD s1, s0, s0; \
	VPADDD s3, s2, s2; \
	VPADDD s5, s4, s4; \
	VPADDD s7, s6, s6; \
	VPADDD s2, s0, s0; \
	VPADDD s6, s4, s4; \
	VPADDD s4, s0, s0; \
	VPXORD Z17, Z17, Z17; \
	KMINS(w, mins, 0); \
	KMINS(w, mins, 1); \
	KMINS(w, mins, 2); \
	KMINS(w, mins, 3); \
	VCVTDQ2PS s0, s0; \
	VCVTPH2PS dd(w), Z16; \
	VMULPS.BCST 0(DX), Z16, Z16; \
	VFMADD231PS Z16, s0, acc; \
	VCVTDQ2PS Z17, Z17; \
	VCVTPH2PS (dd+32)(w), Z18; \
	VMULPS.BCST 0(DX), Z18, Z18; \
	VFNMADD231PS Z18, Z17, acc

// Q4KSUB2 sums sub-block j of both streams' units: a into Z8+j, b into
// Z20+j (passed as sa, sb).
#define Q4KSUB2(j, sa, sb) \
	Q4KSUB(SI, j, sa); \
	Q4KSUB(DI, j, sb)

// KUNIT is one Q4_K or Q5_K unit of both streams: its eight sub-blocks
// (SUB2: Q4KSUB2 or Q5KSUB2) into Z8-Z15 and Z20-Z27, then their scales
// and mins (at sc, mins, dd) into Z0 and Z5, then the next unit (bytes
// long) or on past loop.
#define KUNIT(SUB2, sc, mins, dd, bytes, loop) \
	SUB2(0, Z8, Z20); \
	SUB2(1, Z9, Z21); \
	SUB2(2, Z10, Z22); \
	SUB2(3, Z11, Z23); \
	SUB2(4, Z12, Z24); \
	SUB2(5, Z13, Z25); \
	SUB2(6, Z14, Z26); \
	SUB2(7, Z15, Z27); \
	KFINISH(SI, sc, mins, dd, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z0); \
	KFINISH(DI, sc, mins, dd, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z5); \
	X16NEXTUNIT(bytes, 256, 4, 16, loop)

// func x16Q4K(a, b *byte, pairs int, x *int8, dx *float32, sums *int16, units int, outA, outB *float32)
// units of one 256-value block (2368 bytes); sums: Σq per 32 activations.
TEXT ·x16Q4K(SB), NOSPLIT, $0-72
	X16SETUP
q4kpanel:
	X16PANEL
q4kunit:
	KUNIT(Q4KSUB2, 2048, 2176, 2304, 2368, q4kunit)
	X16NEXT(q4kpanel)

// Q5KVEC adds vector v of Q5_K sub-block j at w to acc: its nibbles with
// the fifth bits from Z19 moved to bit 4 (shift left shl for the low
// values, right shr for the high ones).
#define Q5KVEC(w, j, v, shl, shr, acc) \
	VMOVDQU64 (320*j+64+64*v)(w), Z6; \
	VPANDD Z6, Z31, Z1; \
	VPSLLW shl, Z19, Z3; \
	VPTERNLOGD $0xF8, Z29, Z3, Z1; \
	VPSRLW $4, Z6, Z2; \
	VPANDD Z31, Z2, Z2; \
	VPSRLW shr, Z19, Z4; \
	VPTERNLOGD $0xF8, Z29, Z4, Z2; \
	VPDPBUSD.BCST (32*j+4*v)(BX), Z1, acc; \
	VPDPBUSD.BCST (32*j+16+4*v)(BX), Z2, acc

// Q5KSUB sums sub-block j of the Q5_K unit at w into acc (unscaled): its
// fifth bits, then its nibbles, the order they lie in.
#define Q5KSUB(w, j, acc) \
	VMOVDQU64 (320*j)(w), Z19; \
	VPXORD acc, acc, acc; \
	Q5KVEC(w, j, 0, $4, $0, acc); \
	Q5KVEC(w, j, 1, $3, $1, acc); \
	Q5KVEC(w, j, 2, $2, $2, acc); \
	Q5KVEC(w, j, 3, $1, $3, acc)

#define Q5KSUB2(j, sa, sb) \
	Q5KSUB(SI, j, sa); \
	Q5KSUB(DI, j, sb)

// func x16Q5K(a, b *byte, pairs int, x *int8, dx *float32, sums *int16, units int, outA, outB *float32)
// units of one 256-value block (2880 bytes); sums: Σq per 32 activations.
TEXT ·x16Q5K(SB), NOSPLIT, $0-72
	X16SETUP
	MOVL $0x10101010, AX
	VPBROADCASTD AX, Z29
q5kpanel:
	X16PANEL
q5kunit:
	KUNIT(Q5KSUB2, 2560, 2688, 2816, 2880, q5kunit)
	X16NEXT(q5kpanel)

// Q6KVEC adds vector v of Q6_K run u at w (its nibbles at nib) to Z10
// (the low nibbles: sub-block 2u) and Z11 (the high ones: 2u+1), with
// their high bits from Z12 and Z13 moved to bits 4-5 by shift $cnt.
#define Q6KVEC(w, u, nib, v, shift, cnt) \
	VPANDD (nib+64*v)(w), Z31, Z1; \
	shift cnt, Z12, Z3; \
	VPTERNLOGD $0xF8, Z30, Z3, Z1; \
	VPSRLW $4, (nib+64*v)(w), Z2; \
	VPANDD Z31, Z2, Z2; \
	shift cnt, Z13, Z4; \
	VPTERNLOGD $0xF8, Z30, Z4, Z2; \
	VPDPBUSD.BCST (32*u+4*v)(BX), Z1, Z10; \
	VPDPBUSD.BCST (32*u+16+4*v)(BX), Z2, Z11

// Q6KVEC2 is Q6KVEC for v = 2, whose high bits are at bits 4-5 already.
#define Q6KVEC2(w, u, nib) \
	VPANDD (nib+128)(w), Z31, Z1; \
	VPTERNLOGD $0xF8, Z30, Z12, Z1; \
	VPSRLW $4, (nib+128)(w), Z2; \
	VPANDD Z31, Z2, Z2; \
	VPTERNLOGD $0xF8, Z30, Z13, Z2; \
	VPDPBUSD.BCST (32*u+8)(BX), Z1, Z10; \
	VPDPBUSD.BCST (32*u+24)(BX), Z2, Z11

// Q6KSUB adds run u of 32 values at w, scaled, to acc: the scales of its
// two sub-blocks at sc, high bits at hi, nibbles at nib (q6Scales, q6High,
// q6Nibbles in quantx16.go), loaded in that order, the order they lie in.
#define Q6KSUB(w, u, nib, hi, sc, acc) \
	VPMOVSXBD sc(w), Z14; \
	VPMOVSXBD (sc+16)(w), Z15; \
	VPBROADCASTD (8*u)(R8), Z10; \
	VPBROADCASTD (8*u+4)(R8), Z11; \
	VMOVDQU64 hi(w), Z12; \
	VMOVDQU64 (hi+64)(w), Z13; \
	Q6KVEC(w, u, nib, 0, VPSLLW, $4); \
	Q6KVEC(w, u, nib, 1, VPSLLW, $2); \
	Q6KVEC2(w, u, nib); \
	Q6KVEC(w, u, nib, 3, VPSRLW, $2); \
	VPMULLD Z14, Z10, Z10; \
	VPADDD Z10, acc, acc; \
	VPMULLD Z15, Z11, Z11; \
	VPADDD Z11, acc, acc

#define Q6KSUB2(u, nib, hi, sc) \
	Q6KSUB(SI, u, nib, hi, sc, Z8); \
	Q6KSUB(DI, u, nib, hi, sc, Z9)

// Q6KFINISH adds the integer sum s of the Q6_K unit at w to acc with its
// 16 rows' d times the activations' scale.
#define Q6KFINISH(w, s, acc) \
	VCVTDQ2PS s, s; \
	VCVTPH2PS 3328(w), Z16; \
	VMULPS.BCST 0(DX), Z16, Z16; \
	VFMADD231PS Z16, s, acc

// func x16Q6K(a, b *byte, pairs int, x *int8, dx *float32, negs *int32, units int, outA, outB *float32)
// units of one 256-value block (3392 bytes); negs: -32·Σq per 16 activations.
TEXT ·x16Q6K(SB), NOSPLIT, $0-72
	X16SETUP
q6kpanel:
	X16PANEL
q6kunit:
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	Q6KSUB2(0, 192, 64, 0)
	Q6KSUB2(1, 576, 448, 32)
	Q6KSUB2(2, 1024, 896, 832)
	Q6KSUB2(3, 1408, 1280, 864)
	Q6KSUB2(4, 1856, 1728, 1664)
	Q6KSUB2(5, 2240, 2112, 1696)
	Q6KSUB2(6, 2688, 2560, 2496)
	Q6KSUB2(7, 3072, 2944, 2528)
	Q6KFINISH(SI, Z8, Z0)
	Q6KFINISH(DI, Z9, Z5)
	X16NEXTUNIT(3392, 256, 4, 64, q6kunit)
	X16NEXT(q6kpanel)

