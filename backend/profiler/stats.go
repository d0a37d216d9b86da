package profiler

import (
	"errors"
	"math"
)

// logBeta returns ln B(a, b).
func logBeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}

// RegIncBeta returns the regularized incomplete beta function I_x(a, b),
// evaluated with the continued fraction of Numerical Recipes §6.4 (modified
// Lentz), using the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) where the fraction
// converges slowly.
func RegIncBeta(x, a, b float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	front := math.Exp(a*math.Log(x) + b*math.Log1p(-x) - logBeta(a, b))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(x, a, b) / a
	}
	return 1 - front*betaCF(1-x, b, a)/b
}

func betaCF(x, a, b float64) float64 {
	const tiny = 1e-300
	const eps = 1e-15
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= 500; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return h
}

// StudentTCDF returns P(T ≤ t) for Student's t with df degrees of freedom
// (df may be fractional, as Welch's test needs).
func StudentTCDF(t, df float64) float64 {
	x := df / (df + t*t)
	tail := 0.5 * RegIncBeta(x, df/2, 0.5) // P(T > |t|)
	if t >= 0 {
		return 1 - tail
	}
	return tail
}

// StudentTQuantile returns t such that P(T ≤ t) = p, by bisection on the CDF.
func StudentTQuantile(p, df float64) float64 {
	if p <= 0 {
		return math.Inf(-1)
	}
	if p >= 1 {
		return math.Inf(1)
	}
	lo, hi := -1e3, 1e3
	for i := 0; i < 200; i++ {
		mid := (lo + hi) / 2
		if StudentTCDF(mid, df) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// MeanSD returns the mean and sample standard deviation (n−1).
func MeanSD(xs []float64) (mean, sd float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1))
}

// ErrTooFewSamples is returned by Welch when a group has fewer than two values.
var ErrTooFewSamples = errors.New("each group needs at least two runs")

// Welch runs Welch's unequal-variance t-test on two samples and returns the
// t statistic, the Welch–Satterthwaite degrees of freedom and the two-sided p-value.
func Welch(a, b []float64) (t, df, p float64, err error) {
	if len(a) < 2 || len(b) < 2 {
		return 0, 0, 0, ErrTooFewSamples
	}
	ma, sa := MeanSD(a)
	mb, sb := MeanSD(b)
	va, vb := sa*sa/float64(len(a)), sb*sb/float64(len(b))
	se2 := va + vb
	if se2 == 0 {
		if ma == mb {
			return 0, math.Inf(1), 1, nil
		}
		return math.Copysign(math.Inf(1), ma-mb), math.Inf(1), 0, nil
	}
	t = (ma - mb) / math.Sqrt(se2)
	df = se2 * se2 / (va*va/float64(len(a)-1) + vb*vb/float64(len(b)-1))
	p = RegIncBeta(df/(df+t*t), df/2, 0.5) // two-sided: P(|T| > |t|)
	return t, df, p, nil
}
