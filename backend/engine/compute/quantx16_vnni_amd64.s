//go:build goexperiment.simd && amd64

#include "textflag.h"

// The x16 decode kernels (see quantx16.go for the layouts): 16 rows per
// panel, one row per int32 lane. Each 64-byte vector of nibbles gives two
// vectors of 16 rows × 4 weights (VPANDD; VPSRLW then VPANDD), and each of
// those one VPDPBUSD against 4 activations broadcast from memory: 64
// products per instruction. Integer sums are scaled per sub-block with
// VPMULLD (the K-quants' 6- and 8-bit scales) and converted to float once
// per block, so a panel's 16 results accumulate in Z0 with no horizontal
// sums. Each unit is read front to back (splitting a block's bits into
// regions of their own halved the rate from DRAM). Offsets come in through the activation sums: Q4_0's -8 and Q6_K's
// -32 start each sub-block's integer sum (negs), Q4_K's mins are one
// VPDPWSSD per pair of sub-blocks against the sums of 32 activations.
//
// Arguments (all kernels): w the first panel, panels how many, x the int8
// activations, dx their float scale per block, negs or sums (above), units
// per panel, out 16 floats per panel. Registers: SI the weights, BX DX R8
// the activations, scales and sums of the current unit, CX units left, R10
// panels left, R9 out; Z31 0x0F bytes, Z30 0x30 bytes; Z0 the panel's sums.
// All end with VZEROUPPER.

#define X16SETUP \
	MOVQ w+0(FP), SI; \
	MOVQ panels+8(FP), R10; \
	MOVQ out+48(FP), R9; \
	MOVL $0x0F0F0F0F, AX; \
	VPBROADCASTD AX, Z31; \
	MOVL $0x30303030, AX; \
	VPBROADCASTD AX, Z30

#define X16PANEL \
	MOVQ x+16(FP), BX; \
	MOVQ dx+24(FP), DX; \
	MOVQ negs+32(FP), R8; \
	MOVQ units+40(FP), CX; \
	VPXORD Z0, Z0, Z0

#define X16NEXT(loop) \
	VMOVUPS Z0, (R9); \
	ADDQ $64, R9; \
	DECQ R10; \
	JNZ loop; \
	VZEROUPPER; \
	RET

// NIBBLEDOT adds to acc the products of the 32 values at off(SI) (16 rows
// × 4 in the low nibbles, 4 more in the high ones) with the activations at
// xlo(BX) and xhi(BX).
#define NIBBLEDOT(off, xlo, xhi, acc) \
	VPANDD off(SI), Z31, Z1; \
	VPSRLW $4, off(SI), Z2; \
	VPANDD Z31, Z2, Z2; \
	VPDPBUSD.BCST xlo(BX), Z1, acc; \
	VPDPBUSD.BCST xhi(BX), Z2, acc

// func x16Q4_0(w *byte, panels int, x *int8, dx *float32, negs *int32, units int, out *float32)
// units of 2 blocks (576 bytes); negs: -8·Σq per block of 32 activations.
TEXT ·x16Q4_0(SB), NOSPLIT, $0-56
	X16SETUP
q40panel:
	X16PANEL
q40unit:
	PREFETCHT0 2304(SI)
	PREFETCHT0 2368(SI)
	PREFETCHT0 2432(SI)
	PREFETCHT0 2496(SI)
	PREFETCHT0 2560(SI)
	PREFETCHT0 2624(SI)
	PREFETCHT0 2688(SI)
	PREFETCHT0 2752(SI)
	PREFETCHT0 2816(SI)
	VPBROADCASTD 0(R8), Z10
	VPBROADCASTD 4(R8), Z11
	NIBBLEDOT(0, 0, 16, Z10)
	NIBBLEDOT(64, 4, 20, Z10)
	NIBBLEDOT(128, 8, 24, Z10)
	NIBBLEDOT(192, 12, 28, Z10)
	NIBBLEDOT(256, 32, 48, Z11)
	NIBBLEDOT(320, 36, 52, Z11)
	NIBBLEDOT(384, 40, 56, Z11)
	NIBBLEDOT(448, 44, 60, Z11)
	VCVTDQ2PS Z10, Z10
	VCVTPH2PS 512(SI), Z16
	VMULPS.BCST 0(DX), Z16, Z16
	VFMADD231PS Z16, Z10, Z0
	VCVTDQ2PS Z11, Z11
	VCVTPH2PS 544(SI), Z17
	VMULPS.BCST 4(DX), Z17, Z17
	VFMADD231PS Z17, Z11, Z0
	ADDQ $576, SI
	ADDQ $64, BX
	ADDQ $8, DX
	ADDQ $8, R8
	DECQ CX
	JNZ q40unit
	X16NEXT(q40panel)

// Q4KSUB sums sub-block j of a Q4_K unit into acc (unscaled).
#define Q4KSUB(j, acc) \
	PREFETCHT0 (256*j+4736)(SI); \
	PREFETCHT0 (256*j+4800)(SI); \
	PREFETCHT0 (256*j+4864)(SI); \
	PREFETCHT0 (256*j+4928)(SI); \
	VPXORD acc, acc, acc; \
	NIBBLEDOT(256*j, 32*j, 32*j+16, acc); \
	NIBBLEDOT(256*j+64, 32*j+4, 32*j+20, acc); \
	NIBBLEDOT(256*j+128, 32*j+8, 32*j+24, acc); \
	NIBBLEDOT(256*j+192, 32*j+12, 32*j+28, acc)

// KSCALE multiplies acc by the 16 rows' scales of sub-block j (at base).
#define KSCALE(base, j, acc) \
	VPMOVZXBD (base+16*j)(SI), Z16; \
	VPMULLD Z16, acc, acc

// KMINS adds to Z17 the mins (at base) of sub-blocks 2k, 2k+1 times the
// sums of their activations.
#define KMINS(base, k) \
	VPMOVZXBW (base+32*k)(SI), Z16; \
	VPDPWSSD.BCST (4*k)(R8), Z16, Z17

// KFINISH scales the sub-block sums (Z8-Z15, scales at sc) and the mins
// (at mins) of a Q4_K or Q5_K unit and adds them to Z0 with the 16 rows'
// d and dmin (fp16 at dd, dd+32) times the activations' scale.
#define KFINISH(sc, mins, dd) \
	KSCALE(sc, 0, Z8); \
	KSCALE(sc, 1, Z9); \
	KSCALE(sc, 2, Z10); \
	KSCALE(sc, 3, Z11); \
	KSCALE(sc, 4, Z12); \
	KSCALE(sc, 5, Z13); \
	KSCALE(sc, 6, Z14); \
	KSCALE(sc, 7, Z15); \
	VPADDD Z9, Z8, Z8; \
	VPADDD Z11, Z10, Z10; \
	VPADDD Z13, Z12, Z12; \
	VPADDD Z15, Z14, Z14; \
	VPADDD Z10, Z8, Z8; \
	VPADDD Z14, Z12, Z12; \
	VPADDD Z12, Z8, Z8; \
	VPXORD Z17, Z17, Z17; \
	KMINS(mins, 0); \
	KMINS(mins, 1); \
	KMINS(mins, 2); \
	KMINS(mins, 3); \
	VCVTDQ2PS Z8, Z8; \
	VCVTPH2PS dd(SI), Z16; \
	VMULPS.BCST 0(DX), Z16, Z16; \
	VFMADD231PS Z16, Z8, Z0; \
	VCVTDQ2PS Z17, Z17; \
	VCVTPH2PS (dd+32)(SI), Z18; \
	VMULPS.BCST 0(DX), Z18, Z18; \
	VFNMADD231PS Z18, Z17, Z0

// func x16Q4K(w *byte, panels int, x *int8, dx *float32, sums *int16, units int, out *float32)
// units of one 256-value block (2368 bytes); sums: Σq per 32 activations.
TEXT ·x16Q4K(SB), NOSPLIT, $0-56
	X16SETUP
q4kpanel:
	X16PANEL
q4kunit:
	Q4KSUB(0, Z8)
	Q4KSUB(1, Z9)
	Q4KSUB(2, Z10)
	Q4KSUB(3, Z11)
	Q4KSUB(4, Z12)
	Q4KSUB(5, Z13)
	Q4KSUB(6, Z14)
	Q4KSUB(7, Z15)
	PREFETCHT0 6784(SI)
	PREFETCHT0 6848(SI)
	PREFETCHT0 6912(SI)
	PREFETCHT0 6976(SI)
	PREFETCHT0 7040(SI)
	KFINISH(2048, 2176, 2304)
	ADDQ $2368, SI
	ADDQ $256, BX
	ADDQ $4, DX
	ADDQ $16, R8
	DECQ CX
	JNZ q4kunit
	X16NEXT(q4kpanel)

// Q5KVEC adds vector v of Q5_K sub-block j to acc: its nibbles with the
// fifth bits from Z19 moved to bit 4 (shift left shl for the low values,
// right shr for the high ones).
#define Q5KVEC(j, v, shl, shr, acc) \
	VPANDD (320*j+64*v)(SI), Z31, Z1; \
	VPSLLW shl, Z19, Z3; \
	VPTERNLOGD $0xF8, Z29, Z3, Z1; \
	VPSRLW $4, (320*j+64*v)(SI), Z2; \
	VPANDD Z31, Z2, Z2; \
	VPSRLW shr, Z19, Z4; \
	VPTERNLOGD $0xF8, Z29, Z4, Z2; \
	VPDPBUSD.BCST (32*j+4*v)(BX), Z1, acc; \
	VPDPBUSD.BCST (32*j+16+4*v)(BX), Z2, acc

// Q5KSUB sums sub-block j of a Q5_K unit into acc (unscaled).
#define Q5KSUB(j, acc) \
	PREFETCHT0 (320*j+5760)(SI); \
	PREFETCHT0 (320*j+5824)(SI); \
	PREFETCHT0 (320*j+5888)(SI); \
	PREFETCHT0 (320*j+5952)(SI); \
	PREFETCHT0 (320*j+6016)(SI); \
	VMOVDQU64 (320*j+256)(SI), Z19; \
	VPXORD acc, acc, acc; \
	Q5KVEC(j, 0, $4, $0, acc); \
	Q5KVEC(j, 1, $3, $1, acc); \
	Q5KVEC(j, 2, $2, $2, acc); \
	Q5KVEC(j, 3, $1, $3, acc)

// func x16Q5K(w *byte, panels int, x *int8, dx *float32, sums *int16, units int, out *float32)
// units of one 256-value block (2880 bytes); sums: Σq per 32 activations.
TEXT ·x16Q5K(SB), NOSPLIT, $0-56
	X16SETUP
	MOVL $0x10101010, AX
	VPBROADCASTD AX, Z29
q5kpanel:
	X16PANEL
q5kunit:
	Q5KSUB(0, Z8)
	Q5KSUB(1, Z9)
	Q5KSUB(2, Z10)
	Q5KSUB(3, Z11)
	Q5KSUB(4, Z12)
	Q5KSUB(5, Z13)
	Q5KSUB(6, Z14)
	Q5KSUB(7, Z15)
	PREFETCHT0 8320(SI)
	PREFETCHT0 8384(SI)
	PREFETCHT0 8448(SI)
	PREFETCHT0 8512(SI)
	PREFETCHT0 8576(SI)
	KFINISH(2560, 2688, 2816)
	ADDQ $2880, SI
	ADDQ $256, BX
	ADDQ $4, DX
	ADDQ $16, R8
	DECQ CX
	JNZ q5kunit
	X16NEXT(q5kpanel)

// Q6KVEC adds vector v of Q6_K run u (its nibbles at nib) to Z10 (the low
// nibbles: sub-block 2u) and Z11 (the high ones: 2u+1), with their high
// bits from Z12 and Z13 moved to bits 4-5 by shift $cnt.
#define Q6KVEC(u, nib, v, shift, cnt) \
	VPANDD (nib+64*v)(SI), Z31, Z1; \
	shift cnt, Z12, Z3; \
	VPTERNLOGD $0xF8, Z30, Z3, Z1; \
	VPSRLW $4, (nib+64*v)(SI), Z2; \
	VPANDD Z31, Z2, Z2; \
	shift cnt, Z13, Z4; \
	VPTERNLOGD $0xF8, Z30, Z4, Z2; \
	VPDPBUSD.BCST (32*u+4*v)(BX), Z1, Z10; \
	VPDPBUSD.BCST (32*u+16+4*v)(BX), Z2, Z11

// Q6KVEC2 is Q6KVEC for v = 2, whose high bits are at bits 4-5 already.
#define Q6KVEC2(u, nib) \
	VPANDD (nib+128)(SI), Z31, Z1; \
	VPTERNLOGD $0xF8, Z30, Z12, Z1; \
	VPSRLW $4, (nib+128)(SI), Z2; \
	VPANDD Z31, Z2, Z2; \
	VPTERNLOGD $0xF8, Z30, Z13, Z2; \
	VPDPBUSD.BCST (32*u+8)(BX), Z1, Z10; \
	VPDPBUSD.BCST (32*u+24)(BX), Z2, Z11

// Q6KSUB adds run u of 32 values, scaled, to Z8: nibbles at nib, high bits
// at hi, the scales of its two sub-blocks at sc (q6Nibbles, q6High,
// q6Scales in quantx16.go).
#define Q6KSUB(u, nib, hi, sc) \
	PREFETCHT0 (416*u+6784)(SI); \
	PREFETCHT0 (416*u+6848)(SI); \
	PREFETCHT0 (416*u+6912)(SI); \
	PREFETCHT0 (416*u+6976)(SI); \
	PREFETCHT0 (416*u+7040)(SI); \
	PREFETCHT0 (416*u+7104)(SI); \
	PREFETCHT0 (416*u+7168)(SI); \
	VPBROADCASTD (8*u)(R8), Z10; \
	VPBROADCASTD (8*u+4)(R8), Z11; \
	VMOVDQU64 hi(SI), Z12; \
	VMOVDQU64 (hi+64)(SI), Z13; \
	Q6KVEC(u, nib, 0, VPSLLW, $4); \
	Q6KVEC(u, nib, 1, VPSLLW, $2); \
	Q6KVEC2(u, nib); \
	Q6KVEC(u, nib, 3, VPSRLW, $2); \
	VPMOVSXBD sc(SI), Z14; \
	VPMULLD Z14, Z10, Z10; \
	VPADDD Z10, Z8, Z8; \
	VPMOVSXBD (sc+16)(SI), Z15; \
	VPMULLD Z15, Z11, Z11; \
	VPADDD Z11, Z8, Z8

// func x16Q6K(w *byte, panels int, x *int8, dx *float32, negs *int32, units int, out *float32)
// units of one 256-value block (3392 bytes); negs: -32·Σq per 16 activations.
TEXT ·x16Q6K(SB), NOSPLIT, $0-56
	X16SETUP
q6kpanel:
	X16PANEL
q6kunit:
	VPXORD Z8, Z8, Z8
	Q6KSUB(0, 0, 512, 768)
	Q6KSUB(1, 256, 640, 800)
	Q6KSUB(2, 832, 1344, 1600)
	Q6KSUB(3, 1088, 1472, 1632)
	Q6KSUB(4, 1664, 2176, 2432)
	Q6KSUB(5, 1920, 2304, 2464)
	Q6KSUB(6, 2496, 3008, 3264)
	Q6KSUB(7, 2752, 3136, 3296)
	PREFETCHT0 10112(SI)
	VCVTDQ2PS Z8, Z8
	VCVTPH2PS 3328(SI), Z16
	VMULPS.BCST 0(DX), Z16, Z16
	VFMADD231PS Z16, Z8, Z0
	ADDQ $3392, SI
	ADDQ $256, BX
	ADDQ $4, DX
	ADDQ $64, R8
	DECQ CX
	JNZ q6kunit
	X16NEXT(q6kpanel)
