//go:build goexperiment.simd && amd64

package compute

import (
	"math/bits"
	"simd/archsimd"
	"unsafe"
)

// Every kernel ends its vector part with ClearAVXUpperBits (VZEROUPPER):
// without it, the scalar SSE code that follows (here and in the caller) pays
// a false dependency on the dirty upper register halves, which measured as
// ~150 ns per call on this machine, more than a whole 768-wide dot product.
//
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

// cleanUpper executes VZEROUPPER. Under GOEXPERIMENT=simd (Go 1.26) the
// runtime's async preemption restores full 512-bit registers and leaves the
// upper halves dirty; until the next VZEROUPPER, code that mixes legacy SSE
// and VEX instructions (math.Exp's FMA path) pays a state transition per
// instruction: math.Exp measured 1400 ns instead of 11 ns on this machine.
func cleanUpper()   { archsimd.ClearAVXUpperBits() }
func hasAVX2() bool { return archsimd.X86.AVX2() && archsimd.X86.FMA() }

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

// Horizontal sums stay in vector (VEX) instructions until the caller has
// run ClearAVXUpperBits: a scalar SSE add while the upper halves are dirty
// costs a state transition, which made the 8 reductions of dot4x2 slower
// than its whole inner loop.

// total4 returns v's lane sum in every lane of a Float32x4.
func total4(v archsimd.Float32x16) archsimd.Float32x4 {
	return total4of8(v.GetLo().Add(v.GetHi()))
}

func total4of8(v archsimd.Float32x8) archsimd.Float32x4 {
	q := v.GetLo().Add(v.GetHi())
	q = q.AddPairs(q)
	return q.AddPairs(q)
}

// sums4 returns the lane sums of a, b, c, d as one Float32x4.
func sums4(a, b, c, d archsimd.Float32x16) archsimd.Float32x4 {
	q := func(v archsimd.Float32x16) archsimd.Float32x4 {
		h := v.GetLo().Add(v.GetHi())
		return h.GetLo().Add(h.GetHi())
	}
	return q(a).AddPairs(q(b)).AddPairs(q(c).AddPairs(q(d)))
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
		t := total4(s0.Add(s1).Add(s2.Add(s3)))
		archsimd.ClearAVXUpperBits()
		s = t.GetElem(0)
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
		t := total4of8(s0.Add(s1).Add(s2.Add(s3)))
		archsimd.ClearAVXUpperBits()
		s = t.GetElem(0)
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
		t := total4(s0.Add(s1).Add(s2.Add(s3)))
		archsimd.ClearAVXUpperBits()
		s = t.GetElem(0)
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
		t := total4of8(s0.Add(s1).Add(s2.Add(s3)))
		archsimd.ClearAVXUpperBits()
		s = t.GetElem(0)
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
		archsimd.ClearAVXUpperBits()
	case hasAVX2():
		va := archsimd.BroadcastFloat32x8(a)
		for ; i+8 <= n; i += 8 {
			d := f32p8(pd, i)
			archsimd.LoadFloat32x8(f32p8(px, i)).MulAdd(va, archsimd.LoadFloat32x8(d)).Store(d)
		}
		archsimd.ClearAVXUpperBits()
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
		dot4x2AVX2(out, w0, w1, w2, w3, x0, x1)
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
	sums4(a00, a01, a02, a03).Store((*[4]float32)(out[0:4]))
	sums4(a10, a11, a12, a13).Store((*[4]float32)(out[4:8]))
	archsimd.ClearAVXUpperBits()
	addDot4x2Tail(out, w0, w1, w2, w3, x0, x1, i)
}

// exp16 is e^x lane-wise with the Cephes expf method: x = n·ln2 + r with
// |r| ≤ ln2/2, a degree-6 polynomial for e^r, and 2^n added to the exponent
// bits. Relative error is about 1e-7; inputs are clamped to the float32 range.
func exp16(x archsimd.Float32x16) archsimd.Float32x16 {
	x = x.Max(archsimd.BroadcastFloat32x16(-87.33654)).Min(archsimd.BroadcastFloat32x16(88.37626))
	n := x.Mul(archsimd.BroadcastFloat32x16(1.44269504088896341)).RoundToEvenScaled(0)
	r := n.MulAdd(archsimd.BroadcastFloat32x16(-0.693359375), x)
	r = n.MulAdd(archsimd.BroadcastFloat32x16(2.12194440e-4), r)
	p := archsimd.BroadcastFloat32x16(1.9875691500e-4)
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(1.3981999507e-3))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(8.3334519073e-3))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(4.1665795894e-2))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(1.6666665459e-1))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(5.0000001201e-1))
	p = p.MulAdd(r.Mul(r), r.Add(archsimd.BroadcastFloat32x16(1)))
	e := n.ConvertToInt32().ShiftAllLeft(23)
	return p.AsInt32x16().Add(e).AsFloat32x16()
}

// swiglu sets g[i] = silu(g[i])·u[i] = g/(1+e^-g)·u.
func swiglu(g, u []float32) {
	n := len(g)
	if n == 0 {
		return
	}
	u = u[:n]
	i := 0
	if hasAVX512() {
		pg, pu := unsafe.Pointer(&g[0]), unsafe.Pointer(&u[0])
		one, zero := archsimd.BroadcastFloat32x16(1), archsimd.BroadcastFloat32x16(0)
		for ; i+16 <= n; i += 16 {
			d := f32p(pg, i)
			x := archsimd.LoadFloat32x16(d)
			den := exp16(zero.Sub(x)).Add(one)
			x.Div(den).Mul(archsimd.LoadFloat32x16(f32p(pu, i))).Store(d)
		}
	}
	// Always clean before scalar code that calls math.Exp: see cleanUpper.
	archsimd.ClearAVXUpperBits()
	swigluGeneric(g[i:], u[i:])
}

// expSub sets x[i] = e^(x[i]-m) and returns their sum.
func expSub(x []float32, m float32) float32 { return expScaleSub(x, 1, m) }

// expScaleSub sets x[i] = e^(scale·(x[i]-m)) and returns their sum.
func expScaleSub(x []float32, scale, m float32) float32 {
	n := len(x)
	if n == 0 {
		return 0
	}
	i := 0
	var sum float32
	if hasAVX512() {
		px := unsafe.Pointer(&x[0])
		vm := archsimd.BroadcastFloat32x16(m)
		vs := archsimd.BroadcastFloat32x16(scale)
		var acc archsimd.Float32x16
		for ; i+16 <= n; i += 16 {
			d := f32p(px, i)
			e := exp16(archsimd.LoadFloat32x16(d).Sub(vm).Mul(vs))
			e.Store(d)
			acc = acc.Add(e)
		}
		// The tail goes through exp16 too (padding lanes are computed and
		// dropped): attention rows end in a tail at almost every length,
		// and a scalar math.Exp per element measured as a tenth of prefill.
		var tail [16]float32
		nt := n - i
		if nt > 0 {
			copy(tail[:], x[i:])
			exp16(archsimd.LoadFloat32x16(&tail).Sub(vm).Mul(vs)).Store(&tail)
		}
		t := total4(acc)
		archsimd.ClearAVXUpperBits()
		sum = t.GetElem(0)
		for j, e := range tail[:nt] {
			x[i+j] = e
			sum += e
		}
		i = n
	}
	archsimd.ClearAVXUpperBits() // see cleanUpper
	return sum + expScaleSubGeneric(x[i:], scale, m)
}

// widenBF16 sets dst[i] = float32(src[i]).
func widenBF16(dst []float32, src []uint16) {
	n := len(src)
	if n == 0 {
		return
	}
	dst = dst[:n]
	i := 0
	if hasAVX512() {
		pd, ps := unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0])
		for ; i+16 <= n; i += 16 {
			widen16(archsimd.LoadUint16x16(u16p(ps, i))).Store(f32p(pd, i))
		}
		archsimd.ClearAVXUpperBits()
	}
	widenBF16Generic(dst[i:], src[i:])
}

// moments returns Σx, Σx², max|x| and the count of |x| < small. Lanes
// accumulate in float32 (32 lanes, so a 256k-element tensor adds 8k values
// per lane: relative error well under 1e-4, plenty for statistics). The loop
// is deliberately flat: splitting it into float64-accumulated blocks pushed
// the register allocator into spills and made it 30x slower.
func moments(x []float32, small float32) (sum, sumSq float64, maxAbs float32, below int) {
	n := len(x)
	i := 0
	if n >= 32 && hasAVX512() {
		px := unsafe.Pointer(&x[0])
		zero := archsimd.BroadcastFloat32x16(0)
		thr := archsimd.BroadcastFloat32x16(small)
		m0, m1 := zero, zero
		// Two independent sets of accumulators halve the add-latency chains.
		var s0, s1, q0, q1 archsimd.Float32x16
		for ; i+32 <= n; i += 32 {
			v0 := archsimd.LoadFloat32x16(f32p(px, i))
			v1 := archsimd.LoadFloat32x16(f32p(px, i+16))
			s0, s1 = s0.Add(v0), s1.Add(v1)
			q0, q1 = v0.MulAdd(v0, q0), v1.MulAdd(v1, q1)
			a0, a1 := v0.Max(zero.Sub(v0)), v1.Max(zero.Sub(v1))
			m0, m1 = m0.Max(a0), m1.Max(a1)
			below += bits.OnesCount32(uint32(a0.Less(thr).ToBits()) | uint32(a1.Less(thr).ToBits())<<16)
		}
		var t [3][4]float32
		total4(s0.Add(s1)).Store(&t[0])
		total4(q0.Add(q1)).Store(&t[1])
		total4max(m0.Max(m1)).Store(&t[2])
		archsimd.ClearAVXUpperBits()
		sum, sumSq = float64(t[0][0]), float64(t[1][0])
		for _, v := range t[2] {
			if v > maxAbs {
				maxAbs = v
			}
		}
	}
	s, q, m, b := momentsGeneric(x[i:], small)
	if m > maxAbs {
		maxAbs = m
	}
	return sum + s, sumSq + q, maxAbs, below + b
}

// total4max folds 16 lanes to 4 by maximum.
func total4max(v archsimd.Float32x16) archsimd.Float32x4 {
	h := v.GetLo().Max(v.GetHi())
	return h.GetLo().Max(h.GetHi())
}

// dotBF16x4 computes the dot products of 4 bf16 rows with x into out[0:4].
// The caller passes rows far apart (a quarter of its chunk each), so the
// kernel reads 4 sequential streams in different pages at once: more memory
// requests in flight, and each stream stays easy for the hardware prefetcher.
// (Adjacent rows interleave several streams within one 4 KiB page, which
// measured 30% slower than even one row at a time.)
func dotBF16x4(out []float32, w0, w1, w2, w3 []uint16, x []float32) {
	n := len(x)
	if n == 0 || !hasAVX512() {
		out[0], out[1], out[2], out[3] = dotBF16(w0, x), dotBF16(w1, x), dotBF16(w2, x), dotBF16(w3, x)
		return
	}
	w0, w1, w2, w3 = w0[:n], w1[:n], w2[:n], w3[:n]
	out = out[:4]
	p0, p1, p2, p3 := unsafe.Pointer(&w0[0]), unsafe.Pointer(&w1[0]), unsafe.Pointer(&w2[0]), unsafe.Pointer(&w3[0])
	px := unsafe.Pointer(&x[0])
	var a0, a1, a2, a3 archsimd.Float32x16
	i := 0
	for ; i+16 <= n; i += 16 {
		v := archsimd.LoadFloat32x16(f32p(px, i))
		a0 = widen16(archsimd.LoadUint16x16(u16p(p0, i))).MulAdd(v, a0)
		a1 = widen16(archsimd.LoadUint16x16(u16p(p1, i))).MulAdd(v, a1)
		a2 = widen16(archsimd.LoadUint16x16(u16p(p2, i))).MulAdd(v, a2)
		a3 = widen16(archsimd.LoadUint16x16(u16p(p3, i))).MulAdd(v, a3)
	}
	t := sums4(a0, a1, a2, a3)
	archsimd.ClearAVXUpperBits()
	out[0], out[1], out[2], out[3] = t.GetElem(0), t.GetElem(1), t.GetElem(2), t.GetElem(3)
	for ; i < n; i++ {
		out[0] += BF16ToF32(w0[i]) * x[i]
		out[1] += BF16ToF32(w1[i]) * x[i]
		out[2] += BF16ToF32(w2[i]) * x[i]
		out[3] += BF16ToF32(w3[i]) * x[i]
	}
}

// sums4of8 returns the lane sums of a, b, c, d as one Float32x4.
func sums4of8(a, b, c, d archsimd.Float32x8) archsimd.Float32x4 {
	q := func(v archsimd.Float32x8) archsimd.Float32x4 { return v.GetLo().Add(v.GetHi()) }
	return q(a).AddPairs(q(b)).AddPairs(q(c).AddPairs(q(d)))
}

// addDot4x2Tail adds the products of the elements from i on, which the
// vector loop of a dot4x2 kernel left over.
func addDot4x2Tail(out *[8]float32, w0, w1, w2, w3, x0, x1 []float32, i int) {
	if i >= len(w0) {
		return
	}
	var tail [8]float32
	dot4x2Generic(&tail, w0[i:], w1[i:], w2[i:], w3[i:], x0[i:], x1[i:])
	for k := range out {
		out[k] += tail[k]
	}
}

// dot4x2AVX2 is dot4x2 with 8-lane vectors, for CPUs without AVX-512.
func dot4x2AVX2(out *[8]float32, w0, w1, w2, w3, x0, x1 []float32) {
	n := len(w0)
	if n == 0 || !hasAVX2() {
		dot4x2Generic(out, w0, w1, w2, w3, x0, x1)
		return
	}
	w1, w2, w3 = w1[:n], w2[:n], w3[:n]
	x0, x1 = x0[:n], x1[:n]
	pw0, pw1, pw2, pw3 := unsafe.Pointer(&w0[0]), unsafe.Pointer(&w1[0]), unsafe.Pointer(&w2[0]), unsafe.Pointer(&w3[0])
	px0, px1 := unsafe.Pointer(&x0[0]), unsafe.Pointer(&x1[0])
	var a00, a01, a02, a03, a10, a11, a12, a13 archsimd.Float32x8
	i := 0
	for ; i+8 <= n; i += 8 {
		x := archsimd.LoadFloat32x8(f32p8(px0, i))
		y := archsimd.LoadFloat32x8(f32p8(px1, i))
		v := archsimd.LoadFloat32x8(f32p8(pw0, i))
		a00, a10 = v.MulAdd(x, a00), v.MulAdd(y, a10)
		v = archsimd.LoadFloat32x8(f32p8(pw1, i))
		a01, a11 = v.MulAdd(x, a01), v.MulAdd(y, a11)
		v = archsimd.LoadFloat32x8(f32p8(pw2, i))
		a02, a12 = v.MulAdd(x, a02), v.MulAdd(y, a12)
		v = archsimd.LoadFloat32x8(f32p8(pw3, i))
		a03, a13 = v.MulAdd(x, a03), v.MulAdd(y, a13)
	}
	sums4of8(a00, a01, a02, a03).Store((*[4]float32)(out[0:4]))
	sums4of8(a10, a11, a12, a13).Store((*[4]float32)(out[4:8]))
	archsimd.ClearAVXUpperBits()
	addDot4x2Tail(out, w0, w1, w2, w3, x0, x1, i)
}

// dotF32x4 is dotBF16x4 for float32 rows.
func dotF32x4(out []float32, w0, w1, w2, w3 []float32, x []float32) {
	n := len(x)
	if n == 0 || !hasAVX512() {
		out[0], out[1], out[2], out[3] = dotF32(w0, x), dotF32(w1, x), dotF32(w2, x), dotF32(w3, x)
		return
	}
	w0, w1, w2, w3 = w0[:n], w1[:n], w2[:n], w3[:n]
	out = out[:4]
	p0, p1, p2, p3 := unsafe.Pointer(&w0[0]), unsafe.Pointer(&w1[0]), unsafe.Pointer(&w2[0]), unsafe.Pointer(&w3[0])
	px := unsafe.Pointer(&x[0])
	var a0, a1, a2, a3 archsimd.Float32x16
	i := 0
	for ; i+16 <= n; i += 16 {
		v := archsimd.LoadFloat32x16(f32p(px, i))
		a0 = archsimd.LoadFloat32x16(f32p(p0, i)).MulAdd(v, a0)
		a1 = archsimd.LoadFloat32x16(f32p(p1, i)).MulAdd(v, a1)
		a2 = archsimd.LoadFloat32x16(f32p(p2, i)).MulAdd(v, a2)
		a3 = archsimd.LoadFloat32x16(f32p(p3, i)).MulAdd(v, a3)
	}
	t := sums4(a0, a1, a2, a3)
	archsimd.ClearAVXUpperBits()
	out[0], out[1], out[2], out[3] = t.GetElem(0), t.GetElem(1), t.GetElem(2), t.GetElem(3)
	for ; i < n; i++ {
		out[0] += w0[i] * x[i]
		out[1] += w1[i] * x[i]
		out[2] += w2[i] * x[i]
		out[3] += w3[i] * x[i]
	}
}

// maxF32 returns the largest element of x (len ≥ 1, no NaNs).
func maxF32(x []float32) float32 {
	n := len(x)
	i := 0
	m := x[0]
	if n >= 32 && hasAVX512() {
		px := unsafe.Pointer(&x[0])
		m0 := archsimd.LoadFloat32x16(f32p(px, 0))
		m1 := archsimd.LoadFloat32x16(f32p(px, 16))
		for i = 32; i+32 <= n; i += 32 {
			m0 = m0.Max(archsimd.LoadFloat32x16(f32p(px, i)))
			m1 = m1.Max(archsimd.LoadFloat32x16(f32p(px, i+16)))
		}
		var t [4]float32
		total4max(m0.Max(m1)).Store(&t)
		archsimd.ClearAVXUpperBits()
		m = max(t[0], t[1], t[2], t[3])
	}
	for _, v := range x[i:] {
		if v > m {
			m = v
		}
	}
	return m
}

// scaleF32 sets x[i] *= s.
func scaleF32(x []float32, s float32) {
	n := len(x)
	i := 0
	if n >= 16 && hasAVX512() {
		px := unsafe.Pointer(&x[0])
		vs := archsimd.BroadcastFloat32x16(s)
		for ; i+16 <= n; i += 16 {
			d := f32p(px, i)
			archsimd.LoadFloat32x16(d).Mul(vs).Store(d)
		}
		archsimd.ClearAVXUpperBits()
	}
	for ; i < n; i++ {
		x[i] *= s
	}
}

// addF32 sets dst[i] += src[i].
func addF32(dst, src []float32) {
	n := len(dst)
	src = src[:n]
	i := 0
	if n >= 16 && hasAVX512() {
		pd, ps := unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0])
		for ; i+16 <= n; i += 16 {
			d := f32p(pd, i)
			archsimd.LoadFloat32x16(d).Add(archsimd.LoadFloat32x16(f32p(ps, i))).Store(d)
		}
		archsimd.ClearAVXUpperBits()
	}
	for ; i < n; i++ {
		dst[i] += src[i]
	}
}

// scaleMulF32 sets out[i] = x[i]·s·w[i] (in that order, as the scalar form).
func scaleMulF32(out, x, w []float32, s float32) {
	n := len(out)
	x, w = x[:n], w[:n]
	i := 0
	if n >= 16 && hasAVX512() {
		po, px, pw := unsafe.Pointer(&out[0]), unsafe.Pointer(&x[0]), unsafe.Pointer(&w[0])
		vs := archsimd.BroadcastFloat32x16(s)
		for ; i+16 <= n; i += 16 {
			archsimd.LoadFloat32x16(f32p(px, i)).Mul(vs).Mul(archsimd.LoadFloat32x16(f32p(pw, i))).Store(f32p(po, i))
		}
		archsimd.ClearAVXUpperBits()
	}
	for ; i < n; i++ {
		out[i] = x[i] * s * w[i]
	}
}

// rotate sets (a[i], b[i]) = (a·c − b·s, b·c + a·s) with c, s = cs[i], sn[i]:
// one RoPE rotation of a head's two halves.
func rotate(a, b, cs, sn []float32) {
	n := len(a)
	b, cs, sn = b[:n], cs[:n], sn[:n]
	i := 0
	if n >= 16 && hasAVX512() {
		pa, pb, pc, ps := unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), unsafe.Pointer(&cs[0]), unsafe.Pointer(&sn[0])
		for ; i+16 <= n; i += 16 {
			x0, x1 := archsimd.LoadFloat32x16(f32p(pa, i)), archsimd.LoadFloat32x16(f32p(pb, i))
			c, s := archsimd.LoadFloat32x16(f32p(pc, i)), archsimd.LoadFloat32x16(f32p(ps, i))
			x0.Mul(c).Sub(x1.Mul(s)).Store(f32p(pa, i))
			x1.Mul(c).Add(x0.Mul(s)).Store(f32p(pb, i))
		}
		archsimd.ClearAVXUpperBits()
	}
	rotateGeneric(a[i:], b[i:], cs[i:], sn[i:])
}
