package metaltest

// Element decoders of the GGUF block types, as kernels.metal's load_w
// overloads read them: element i of a row-major matrix whose rows are whole
// blocks (ggml-common.h's layouts).

func half(v view, off int) float32 { return f16Elem(v[off:], 0) }

func q8_0Elem(v view, i int) float32 {
	b := v[34*(i/32):]
	return half(b, 0) * float32(int8(b[2+i%32]))
}

func q4_0Elem(v view, i int) float32 {
	b := v[18*(i/32):]
	j := i % 32
	q := int(b[2+j%16])
	if j < 16 {
		q &= 15
	} else {
		q >>= 4
	}
	return half(b, 0) * float32(q-8)
}

// scaleMinK4 is ggml's get_scale_min_k4 on a 12-byte scales field.
func scaleMinK4(j int, q []byte) (sc, m float32) {
	if j < 4 {
		return float32(q[j] & 63), float32(q[j+4] & 63)
	}
	return float32(q[j+4]&0xF | (q[j-4]>>6)<<4), float32(q[j+4]>>4 | (q[j]>>6)<<4)
}

func qkElem(v view, i int, five bool) float32 {
	size := 144
	if five {
		size = 176
	}
	b := v[size*(i/256):]
	j := i % 256
	c, l, high := j/64, j%32, (j%64)/32
	sub := 2*c + high
	sc, m := scaleMinK4(sub, b[4:16])
	qs := b[16:]
	if five {
		qs = b[48:]
	}
	q := int(qs[32*c+l] & 15)
	if high == 1 {
		q = int(qs[32*c+l] >> 4)
	}
	if five {
		q += int(b[16+l]>>sub&1) << 4
	}
	return half(b, 0)*sc*float32(q) - half(b, 2)*m
}

func q4_KElem(v view, i int) float32 { return qkElem(v, i, false) }
func q5_KElem(v view, i int) float32 { return qkElem(v, i, true) }

func q6_KElem(v view, i int) float32 {
	b := v[210*(i/256):]
	j := i % 256
	n, quarter, l := j/128, (j%128)/32, j%32
	ql, qh, sc := b[64*n:], b[128+32*n:], b[192+8*n:]
	lo := ql[l]
	if quarter&1 == 1 {
		lo = ql[l+32]
	}
	q := int(lo & 0xF)
	if quarter >= 2 {
		q = int(lo >> 4)
	}
	q |= int(qh[l]>>(2*quarter)&3) << 4
	return half(b, 208) * float32(int8(sc[l/16+2*quarter])) * float32(q-32)
}
