//go:build goexperiment.simd && amd64

package compute

import (
	"simd/archsimd"
	"unsafe"
)

// SIMD kernels through simd/archsimd: AVX-512 (16 lanes) where the CPU has
// it, else AVX2+FMA (8 lanes), else the portable kernels. Inner loops use
// unsafe pointer loads so they carry no bounds checks; every loop bound is
// derived from the slice lengths checked on entry.

func kernelName() string {
	switch {
	case archsimd.X86.AVX512():
		return "avx512"
	case archsimd.X86.AVX2() && archsimd.X86.FMA():
		return "avx2"
	}
	return "scalar"
}

func hasAVX512() bool { return archsimd.X86.AVX512() }
func hasAVX2() bool   { return archsimd.X86.AVX2() && archsimd.X86.FMA() }

func f32p(p unsafe.Pointer, i int) *[16]float32 {
	return (*[16]float32)(unsafe.Add(p, 4*i))
}
func f32p8(p unsafe.Pointer, i int) *[8]float32 {
	return (*[8]float32)(unsafe.Add(p, 4*i))
}
func u16p(p unsafe.Pointer, i int) *[16]uint16 {
	return (*[16]uint16)(unsafe.Add(p, 2*i))
}
func u16p8(p unsafe.Pointer, i int) *[8]uint16 {
	return (*[8]uint16)(unsafe.Add(p, 2*i))
}

func sum16(v archsimd.Float32x16) float32 {
	var a [16]float32
	v.Store(&a)
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) +
		((a[8] + a[9]) + (a[10] + a[11])) + ((a[12] + a[13]) + (a[14] + a[15]))
}

func sum8(v archsimd.Float32x8) float32 {
	var a [8]float32
	v.Store(&a)
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

// widen16 turns 16 bfloat16s into float32s: zero-extend, shift into the top half.
func widen16(u archsimd.Uint16x16) archsimd.Float32x16 {
	return u.ExtendToUint32().ShiftAllLeft(16).AsFloat32x16()
}

func widen8(u archsimd.Uint16x8) archsimd.Float32x8 {
	return u.ExtendToUint32().ShiftAllLeft(16).AsFloat32x8()
}

func dotF32(a, b []float32) float32 {
	n := len(a)
	if n == 0 {
		return 0
	}
	b = b[:n]
	pa, pb := unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0])
	i := 0
	var s float32
	switch {
	case hasAVX512():
		var s0, s1, s2, s3 archsimd.Float32x16
		for ; i+64 <= n; i += 64 {
			s0 = archsimd.LoadFloat32x16(f32p(pa, i)).MulAdd(archsimd.LoadFloat32x16(f32p(pb, i)), s0)
			s1 = archsimd.LoadFloat32x16(f32p(pa, i+16)).MulAdd(archsimd.LoadFloat32x16(f32p(pb, i+16)), s1)
			s2 = archsimd.LoadFloat32x16(f32p(pa, i+32)).MulAdd(archsimd.LoadFloat32x16(f32p(pb, i+32)), s2)
			s3 = archsimd.LoadFloat32x16(f32p(pa, i+48)).MulAdd(archsimd.LoadFloat32x16(f32p(pb, i+48)), s3)
		}
		for ; i+16 <= n; i += 16 {
			s0 = archsimd.LoadFloat32x16(f32p(pa, i)).MulAdd(archsimd.LoadFloat32x16(f32p(pb, i)), s0)
		}
		s = sum16(s0.Add(s1).Add(s2.Add(s3)))
	case hasAVX2():
		var s0, s1, s2, s3 archsimd.Float32x8
		for ; i+32 <= n; i += 32 {
			s0 = archsimd.LoadFloat32x8(f32p8(pa, i)).MulAdd(archsimd.LoadFloat32x8(f32p8(pb, i)), s0)
			s1 = archsimd.LoadFloat32x8(f32p8(pa, i+8)).MulAdd(archsimd.LoadFloat32x8(f32p8(pb, i+8)), s1)
			s2 = archsimd.LoadFloat32x8(f32p8(pa, i+16)).MulAdd(archsimd.LoadFloat32x8(f32p8(pb, i+16)), s2)
			s3 = archsimd.LoadFloat32x8(f32p8(pa, i+24)).MulAdd(archsimd.LoadFloat32x8(f32p8(pb, i+24)), s3)
		}
		for ; i+8 <= n; i += 8 {
			s0 = archsimd.LoadFloat32x8(f32p8(pa, i)).MulAdd(archsimd.LoadFloat32x8(f32p8(pb, i)), s0)
		}
		s = sum8(s0.Add(s1).Add(s2.Add(s3)))
	}
	for ; i < n; i++ {
		s += a[i] * b[i]
	}
	return s
}

func dotBF16(w []uint16, x []float32) float32 {
	n := len(w)
	if n == 0 {
		return 0
	}
	x = x[:n]
	pw, px := unsafe.Pointer(&w[0]), unsafe.Pointer(&x[0])
	i := 0
	var s float32
	switch {
	case hasAVX512():
		var s0, s1, s2, s3 archsimd.Float32x16
		for ; i+64 <= n; i += 64 {
			s0 = widen16(archsimd.LoadUint16x16(u16p(pw, i))).MulAdd(archsimd.LoadFloat32x16(f32p(px, i)), s0)
			s1 = widen16(archsimd.LoadUint16x16(u16p(pw, i+16))).MulAdd(archsimd.LoadFloat32x16(f32p(px, i+16)), s1)
			s2 = widen16(archsimd.LoadUint16x16(u16p(pw, i+32))).MulAdd(archsimd.LoadFloat32x16(f32p(px, i+32)), s2)
			s3 = widen16(archsimd.LoadUint16x16(u16p(pw, i+48))).MulAdd(archsimd.LoadFloat32x16(f32p(px, i+48)), s3)
		}
		for ; i+16 <= n; i += 16 {
			s0 = widen16(archsimd.LoadUint16x16(u16p(pw, i))).MulAdd(archsimd.LoadFloat32x16(f32p(px, i)), s0)
		}
		s = sum16(s0.Add(s1).Add(s2.Add(s3)))
	case hasAVX2():
		var s0, s1, s2, s3 archsimd.Float32x8
		for ; i+32 <= n; i += 32 {
			s0 = widen8(archsimd.LoadUint16x8(u16p8(pw, i))).MulAdd(archsimd.LoadFloat32x8(f32p8(px, i)), s0)
			s1 = widen8(archsimd.LoadUint16x8(u16p8(pw, i+8))).MulAdd(archsimd.LoadFloat32x8(f32p8(px, i+8)), s1)
			s2 = widen8(archsimd.LoadUint16x8(u16p8(pw, i+16))).MulAdd(archsimd.LoadFloat32x8(f32p8(px, i+16)), s2)
			s3 = widen8(archsimd.LoadUint16x8(u16p8(pw, i+24))).MulAdd(archsimd.LoadFloat32x8(f32p8(px, i+24)), s3)
		}
		for ; i+8 <= n; i += 8 {
			s0 = widen8(archsimd.LoadUint16x8(u16p8(pw, i))).MulAdd(archsimd.LoadFloat32x8(f32p8(px, i)), s0)
		}
		s = sum8(s0.Add(s1).Add(s2.Add(s3)))
	}
	for ; i < n; i++ {
		s += BF16ToF32(w[i]) * x[i]
	}
	return s
}

func axpy(dst []float32, a float32, x []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	x = x[:n]
	pd, px := unsafe.Pointer(&dst[0]), unsafe.Pointer(&x[0])
	i := 0
	switch {
	case hasAVX512():
		va := archsimd.BroadcastFloat32x16(a)
		for ; i+16 <= n; i += 16 {
			d := f32p(pd, i)
			archsimd.LoadFloat32x16(f32p(px, i)).MulAdd(va, archsimd.LoadFloat32x16(d)).Store(d)
		}
	case hasAVX2():
		va := archsimd.BroadcastFloat32x8(a)
		for ; i+8 <= n; i += 8 {
			d := f32p8(pd, i)
			archsimd.LoadFloat32x8(f32p8(px, i)).MulAdd(va, archsimd.LoadFloat32x8(d)).Store(d)
		}
	}
	for ; i < n; i++ {
		dst[i] += a * x[i]
	}
}

// dot4x2 is the prefill micro-kernel: 4 weight rows against 2 token rows,
// 8 accumulators in registers, so each loaded weight vector feeds 2 FMAs and
// each token vector 4. (Go's register allocator uses 16 vector registers;
// more accumulators spill to the stack.)
func dot4x2(out *[8]float32, w0, w1, w2, w3, x0, x1 []float32) {
	n := len(w0)
	if n == 0 || !hasAVX512() {
		dot4x2Generic(out, w0, w1, w2, w3, x0, x1)
		return
	}
	w1, w2, w3 = w1[:n], w2[:n], w3[:n]
	x0, x1 = x0[:n], x1[:n]
	pw0, pw1, pw2, pw3 := unsafe.Pointer(&w0[0]), unsafe.Pointer(&w1[0]), unsafe.Pointer(&w2[0]), unsafe.Pointer(&w3[0])
	px0, px1 := unsafe.Pointer(&x0[0]), unsafe.Pointer(&x1[0])
	var a00, a01, a02, a03, a10, a11, a12, a13 archsimd.Float32x16
	i := 0
	for ; i+16 <= n; i += 16 {
		x := archsimd.LoadFloat32x16(f32p(px0, i))
		y := archsimd.LoadFloat32x16(f32p(px1, i))
		v := archsimd.LoadFloat32x16(f32p(pw0, i))
		a00, a10 = v.MulAdd(x, a00), v.MulAdd(y, a10)
		v = archsimd.LoadFloat32x16(f32p(pw1, i))
		a01, a11 = v.MulAdd(x, a01), v.MulAdd(y, a11)
		v = archsimd.LoadFloat32x16(f32p(pw2, i))
		a02, a12 = v.MulAdd(x, a02), v.MulAdd(y, a12)
		v = archsimd.LoadFloat32x16(f32p(pw3, i))
		a03, a13 = v.MulAdd(x, a03), v.MulAdd(y, a13)
	}
	out[0], out[1], out[2], out[3] = sum16(a00), sum16(a01), sum16(a02), sum16(a03)
	out[4], out[5], out[6], out[7] = sum16(a10), sum16(a11), sum16(a12), sum16(a13)
	for ; i < n; i++ {
		out[0] += w0[i] * x0[i]
		out[1] += w1[i] * x0[i]
		out[2] += w2[i] * x0[i]
		out[3] += w3[i] * x0[i]
		out[4] += w0[i] * x1[i]
		out[5] += w1[i] * x1[i]
		out[6] += w2[i] * x1[i]
		out[7] += w3[i] * x1[i]
	}
}
