package compute

import "math"

// Portable scalar kernels. They are the whole implementation on builds
// without GOEXPERIMENT=simd or off amd64, and handle tails everywhere.
// Four independent accumulators let the CPU overlap the dependent adds.

func dotF32Generic(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotBF16Generic(w []uint16, x []float32) float32 {
	x = x[:len(w)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(w); i += 4 {
		s0 += BF16ToF32(w[i]) * x[i]
		s1 += BF16ToF32(w[i+1]) * x[i+1]
		s2 += BF16ToF32(w[i+2]) * x[i+2]
		s3 += BF16ToF32(w[i+3]) * x[i+3]
	}
	for ; i < len(w); i++ {
		s0 += BF16ToF32(w[i]) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyGeneric(dst []float32, a float32, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += a * x[i]
	}
}

// dot4x2Generic computes the 8 dot products of rows w0…w3 with x0, x1:
// out[4*t+r] = w_r · x_t. One pass with 8 accumulators, so every loaded
// weight feeds two multiply-adds (the arm64 prefill path).
func dot4x2Generic(out *[8]float32, w0, w1, w2, w3, x0, x1 []float32) {
	n := len(w0)
	w1, w2, w3, x0, x1 = w1[:n], w2[:n], w3[:n], x0[:n], x1[:n]
	var a0, a1, a2, a3, b0, b1, b2, b3 float32
	for i := range n {
		u, v := x0[i], x1[i]
		a0 += w0[i] * u
		b0 += w0[i] * v
		a1 += w1[i] * u
		b1 += w1[i] * v
		a2 += w2[i] * u
		b2 += w2[i] * v
		a3 += w3[i] * u
		b3 += w3[i] * v
	}
	*out = [8]float32{a0, a1, a2, a3, b0, b1, b2, b3}
}

func swigluGeneric(g, u []float32) {
	u = u[:len(g)]
	for i, v := range g {
		g[i] = v / (1 + float32(math.Exp(float64(-v)))) * u[i]
	}
}

func expSubGeneric(x []float32, m float32) float32 { return expScaleSubGeneric(x, 1, m) }

func expScaleSubGeneric(x []float32, scale, m float32) float32 {
	var sum float32
	for i, v := range x {
		e := float32(math.Exp(float64((v - m) * scale)))
		x[i] = e
		sum += e
	}
	return sum
}

func widenBF16Generic(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, u := range src {
		dst[i] = BF16ToF32(u)
	}
}

func widenF16Generic(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, u := range src {
		dst[i] = F16ToF32(u)
	}
}

func momentsGeneric(x []float32, small float32) (sum, sumSq float64, maxAbs float32, below int) {
	for _, v := range x {
		f := float64(v)
		sum += f
		sumSq += f * f
		a := float32(math.Abs(f))
		if a > maxAbs {
			maxAbs = a
		}
		if a < small {
			below++
		}
	}
	return sum, sumSq, maxAbs, below
}

func maxF32Generic(x []float32) float32 {
	// A plain comparison: the max builtin's NaN and ±0 handling compiles to
	// a much slower sequence, and scores are never NaN here.
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	return m
}

func scaleF32Generic(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

func addF32Generic(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

func scaleMulF32Generic(out, x, w []float32, s float32) {
	x, w = x[:len(out)], w[:len(out)]
	for i := range out {
		out[i] = x[i] * s * w[i]
	}
}

func rotateGeneric(a, b, cs, sn []float32) {
	b, cs, sn = b[:len(a)], cs[:len(a)], sn[:len(a)]
	for i := range a {
		x0, x1 := a[i], b[i]
		a[i] = x0*cs[i] - x1*sn[i]
		b[i] = x1*cs[i] + x0*sn[i]
	}
}
