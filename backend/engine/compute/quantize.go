package compute

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"

	"energyprofiler/backend/model"
)

// Quantize encodes rows of cols float32 values into type dt, following
// ggml's reference quantizers (quantize_row_*_ref in ggml-quants.c, what
// llama-quantize uses without an importance matrix) step by step, so the
// project's quantized demo models are made the way llama.cpp makes files.
// len(values) must be a multiple of cols, and cols of dt's block size.
func Quantize(dt DType, values []float32, cols int) ([]byte, error) {
	rb := dt.RowBytes(cols)
	if cols <= 0 || rb < 0 || len(values)%cols != 0 {
		return nil, fmt.Errorf("quantize %s: %d values in rows of %d (rows must be whole blocks)", dt, len(values), cols)
	}
	if !dt.Quantized() {
		return nil, fmt.Errorf("quantize: %s is not a quantized type", dt)
	}
	vals, bytes := dt.blockLayout()
	out := make([]byte, len(values)/cols*rb)
	blocks := len(values) / vals
	// Blocks are independent: split them over the cores (the result does
	// not depend on the split).
	workers := min(runtime.GOMAXPROCS(0), max(1, blocks/1024))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := w * blocks / workers; b < (w+1)*blocks/workers; b++ {
				x, y := values[vals*b:vals*(b+1)], out[bytes*b:bytes*(b+1)]
				switch dt {
				case Q8_0:
					quantizeQ8_0(x, y)
				case Q4_0:
					quantizeQ4_0(x, y)
				case Q4_K, Q5_K:
					quantizeQ45K(x, y, dt == Q5_K)
				case Q6_K:
					quantizeQ6K(x, y)
				}
			}
		}()
	}
	wg.Wait()
	return out, nil
}

// putF16 writes f as an IEEE half, rounded to nearest even as
// GGML_FP32_TO_FP16 does (on every CPU with F16C and in its portable code).
func putF16(b []byte, f float32) { binary.LittleEndian.PutUint16(b, model.Float32ToF16(f)) }

// nearestInt is ggml's nearest_int: round half to even through the
// float32 magic-number trick (|f| ≤ 4194303). Callers pass products as
// float32(a*b): the explicit conversion keeps the compiler from fusing the
// multiply into this addition (it does on arm64), which would round
// differently from ggml and make the demo files differ between machines.
// The same goes for every a*b + c in this file.
func nearestInt(f float32) int {
	v := f + 12582912
	return int(math.Float32bits(v)&0x007fffff) - 0x00400000
}

func quantizeQ8_0(x []float32, y []byte) {
	var amax float32
	for _, v := range x {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(y, d)
	for j, v := range x {
		y[2+j] = byte(int8(math.Round(float64(v * id)))) // roundf: half away from zero
	}
}

func quantizeQ4_0(x []float32, y []byte) {
	var amax, mx float32
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); amax < a {
			amax, mx = a, v
		}
	}
	d := mx / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(y, d)
	for j := 0; j < 16; j++ {
		xi0 := min(15, int8(float32(x[j]*id)+8.5)) // C's (int8_t) truncates toward zero
		xi1 := min(15, int8(float32(x[j+16]*id)+8.5))
		y[2+j] = byte(xi0) | byte(xi1)<<4
	}
}

// makeQKX2 is ggml's make_qkx2_quants for one sub-block of 32 values: an
// asymmetric (scale, min) fit to levels 0…nmax, searching nstep scales
// around the range. (Fixed-size arrays keep the hot loops free of bounds
// checks: the quantized demos spend most of their writing time here.)
func makeQKX2(nmax int, x, weights *[32]float32, L, aux *[32]uint8, rmin, rdelta float32, nstep int) (scale, theMin float32) {
	mn, mx := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < 32; i++ {
		mn, mx = min(mn, x[i]), max(mx, x[i])
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if mn > 0 {
		mn = 0
	}
	if mx == mn {
		*L = [32]uint8{}
		return 0, -mn
	}
	var xm [32]float32 // x - min, which ggml computes inside each loop
	for i := range xm {
		xm[i] = x[i] - mn
	}
	iscale := float32(nmax) / (mx - mn)
	scale = 1 / iscale
	var bestErr float32
	for i := range 32 {
		l := max(0, min(nmax, nearestInt(float32(iscale*xm[i]))))
		L[i] = uint8(l)
		diff := float32(scale*float32(l)) + mn - x[i]
		bestErr += float32(weights[i] * float32(diff*diff))
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + float32(nmax)) / (mx - mn)
		var sumL, sumL2, sumXL float32
		for i := range 32 {
			l := max(0, min(nmax, nearestInt(float32(iscale*xm[i]))))
			aux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(float32(w*fl) * fl)
			sumXL += float32(float32(w*fl) * x[i])
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var cur float32
			for i := range 32 {
				diff := float32(thisScale*float32(aux[i])) + thisMin - x[i]
				cur += float32(weights[i] * float32(diff*diff))
			}
			if cur < bestErr {
				*L = *aux
				bestErr, scale, mn = cur, thisScale, thisMin
				for i := range xm { // later scales measure from the new min
					xm[i] = x[i] - mn
				}
			}
		}
	}
	return scale, -mn
}

// quantizeQ45K is quantize_row_q4_K_ref (q5 false) and quantize_row_q5_K_ref.
func quantizeQ45K(x []float32, y []byte, q5 bool) {
	nmax, rmin, rdelta, nstep := 15, float32(-1), float32(0.1), 20
	if q5 {
		nmax, rmin, rdelta, nstep = 31, -0.5, 0.1, 15
	}
	var L [256]uint8
	var aux [32]uint8
	var weights [32]float32
	var scales, mins [8]float32
	var maxScale, maxMin float32
	for j := range 8 {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		av := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range xs {
			weights[l] = av + float32(math.Abs(float64(v)))
		}
		scales[j], mins[j] = makeQKX2(nmax, (*[32]float32)(xs), &weights, (*[32]uint8)(L[32*j:32*j+32]), &aux, rmin, rdelta, nstep)
		maxScale, maxMin = max(maxScale, scales[j]), max(maxMin, mins[j])
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := y[4:16]
	clear(sc)
	for j := range 8 {
		ls := uint8(min(63, uint8(nearestInt(float32(invScale*scales[j])))))
		lm := uint8(min(63, uint8(nearestInt(float32(invMin*mins[j])))))
		if j < 4 {
			sc[j], sc[j+4] = ls, lm
		} else {
			sc[j+4] = ls&0xF | (lm&0xF)<<4
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	putF16(y, maxScale/63)
	putF16(y[2:], maxMin/63)
	d, dmin := f16(y), f16(y[2:])
	for j := range 8 {
		s, m := kScaleMin(j, sc)
		dd := d * float32(s)
		if dd == 0 {
			continue
		}
		dm := float32(dmin * float32(m)) // no fused multiply-add below
		for ii := range 32 {
			L[32*j+ii] = uint8(max(0, min(nmax, nearestInt((x[32*j+ii]+dm)/dd))))
		}
	}
	if !q5 {
		q := y[16:144]
		for c := range 4 {
			for l := range 32 {
				q[32*c+l] = L[64*c+l] | L[64*c+l+32]<<4
			}
		}
		return
	}
	qh, ql := y[16:48], y[48:176]
	clear(qh)
	m1, m2 := uint8(1), uint8(2)
	for c := range 4 {
		for j := range 32 {
			l1, l2 := L[64*c+j], L[64*c+j+32]
			if l1 > 15 {
				l1 -= 16
				qh[j] |= m1
			}
			if l2 > 15 {
				l2 -= 16
				qh[j] |= m2
			}
			ql[32*c+j] = l1 | l2<<4
		}
		m1, m2 = m1<<2, m2<<2
	}
}

// makeQX is ggml's make_qx_quants with rmse_type 1 and no importance
// weights: a symmetric scale for levels -nmax…nmax-1, L = level + nmax.
func makeQX(nmax int, x []float32, L []int8) float32 {
	var mx, amax float32
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); a > amax {
			amax, mx = a, v
		}
	}
	if amax < 1e-15 { // GROUP_MAX_EPS
		clear(L)
		return 0
	}
	iscale := -float32(nmax) / mx
	var sumLX, sumL2 float32
	for i, v := range x {
		l := max(-nmax, min(nmax-1, nearestInt(float32(iscale*v))))
		L[i] = int8(l + nmax)
		w := v * v
		sumLX += float32(float32(w*v) * float32(l))
		sumL2 += float32(float32(w*float32(l)) * float32(l))
	}
	var scale float32
	if sumL2 != 0 {
		scale = sumLX / sumL2
	}
	best := scale * sumLX
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(0.1*float32(is))) / mx
		sumLX, sumL2 = 0, 0
		for _, v := range x {
			l := max(-nmax, min(nmax-1, nearestInt(float32(iscale*v))))
			w := v * v
			sumLX += float32(float32(w*v) * float32(l))
			sumL2 += float32(float32(w*float32(l)) * float32(l))
		}
		if sumL2 > 0 && sumLX*sumLX > best*sumL2 {
			for i, v := range x {
				l := max(-nmax, min(nmax-1, nearestInt(float32(iscale*v))))
				L[i] = int8(nmax + l)
			}
			scale = sumLX / sumL2
			best = scale * sumLX
		}
	}
	return scale
}

// quantizeQ6K is quantize_row_q6_K_ref.
func quantizeQ6K(x []float32, y []byte) {
	var L [256]int8
	var scales [16]float32
	var maxScale, maxAbs float32
	for ib := range 16 {
		s := makeQX(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
		scales[ib] = s
		if a := float32(math.Abs(float64(s))); a > maxAbs {
			maxAbs, maxScale = a, s
		}
	}
	clear(y)
	if maxAbs < 1e-15 {
		return
	}
	iscale := -128 / maxScale
	putF16(y[208:], 1/iscale)
	sc := y[192:208]
	for ib := range 16 {
		sc[ib] = byte(int8(min(127, nearestInt(float32(iscale*scales[ib])))))
	}
	d := f16(y[208:])
	for j := range 16 {
		dd := d * float32(int8(sc[j]))
		if dd == 0 {
			continue
		}
		for ii := range 16 {
			l := max(-32, min(31, nearestInt(x[16*j+ii]/dd)))
			L[16*j+ii] = int8(l + 32)
		}
	}
	for half := range 2 {
		ql, qh := y[64*half:64*half+64], y[128+32*half:128+32*half+32]
		Lh := L[128*half : 128*half+128]
		for l := range 32 {
			q1, q2, q3, q4 := uint8(Lh[l])&0xF, uint8(Lh[l+32])&0xF, uint8(Lh[l+64])&0xF, uint8(Lh[l+96])&0xF
			ql[l] = q1 | q3<<4
			ql[l+32] = q2 | q4<<4
			qh[l] = uint8(Lh[l])>>4 | (uint8(Lh[l+32])>>4)<<2 | (uint8(Lh[l+64])>>4)<<4 | (uint8(Lh[l+96])>>4)<<6
		}
	}
}
