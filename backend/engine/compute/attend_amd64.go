//go:build goexperiment.simd && amd64

package compute

//go:noescape
func attnScores16(q *float32, k *float32, stride, n, chunks int, scale float32, s *float32)

//go:noescape
func attnWeighted16(out *float32, s *float32, v *float32, stride, n, chunks int)

// attendScores sets s[j] = scale·(q · k[j·stride : j·stride+len(q)]) for
// j < len(s), in one AVX-512 call where the CPU has it and len(q) is a
// multiple of 16, and reports whether it did.
func attendScores(s, q, k []float32, stride int, scale float32) bool {
	hd, n := len(q), len(s)
	if n == 0 || hd == 0 || hd%16 != 0 || !hasAVX512() {
		return false
	}
	_ = k[(n-1)*stride+hd-1]
	attnScores16(&q[0], &k[0], stride, n, hd/16, scale, &s[0])
	return true
}

// attendWeighted sets out = Σ_j s[j]·v[j·stride : j·stride+len(out)] like
// attendScores, and reports whether it did.
func attendWeighted(out, s, v []float32, stride int) bool {
	hd, n := len(out), len(s)
	if n == 0 || hd == 0 || hd%16 != 0 || !hasAVX512() {
		return false
	}
	_ = v[(n-1)*stride+hd-1]
	attnWeighted16(&out[0], &s[0], &v[0], stride, n, hd/16)
	return true
}
