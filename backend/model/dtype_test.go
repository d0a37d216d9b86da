package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Every half value survives F16 → F32 → F16 (NaNs stay NaN).
func TestF16ExhaustiveRoundTrip(t *testing.T) {
	for h := range 1 << 16 {
		f := F16ToFloat32(uint16(h))
		back := Float32ToF16(f)
		if math.IsNaN(float64(f)) {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("%#04x → %g → %#04x", h, f, back)
		}
	}
}

func TestF16KnownValues(t *testing.T) {
	tests := []struct {
		bits uint16
		f    float32
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0400, 6.103515625e-05}, {0x0001, 5.960464477539063e-08},
		{0x3555, 0.333251953125}, {0x7c00, float32(math.Inf(1))}, {0x8000, float32(math.Copysign(0, -1))},
	}
	for _, tt := range tests {
		if got := F16ToFloat32(tt.bits); got != tt.f || math.Signbit(float64(got)) != math.Signbit(float64(tt.f)) {
			t.Errorf("F16ToFloat32(%#04x) = %g, want %g", tt.bits, got, tt.f)
		}
		if got := Float32ToF16(tt.f); got != tt.bits {
			t.Errorf("Float32ToF16(%g) = %#04x, want %#04x", tt.f, got, tt.bits)
		}
	}
	// Rounding: beyond the largest half after rounding → Inf; halfway → even.
	if got := Float32ToF16(65520); got != 0x7c00 {
		t.Errorf("65520 → %#04x, want Inf", got)
	}
	if got := Float32ToF16(65519); got != 0x7bff {
		t.Errorf("65519 → %#04x, want 65504", got)
	}
	if got := Float32ToF16(1 + 1.0/2048); got != 0x3c00 { // halfway between 1 and next: even is 1
		t.Errorf("1+2^-11 → %#04x, want 0x3c00", got)
	}
	if got := Float32ToF16(1 + 3.0/2048); got != 0x3c02 { // halfway between 0x3c01 and 0x3c02: even
		t.Errorf("1+3·2^-11 → %#04x, want 0x3c02", got)
	}
	if got := Float32ToF16(2.9802322e-08); got != 0 { // exactly half the smallest subnormal: ties to even zero
		t.Errorf("2^-25 → %#04x, want 0", got)
	}
	if got := Float32ToF16(2.9802326e-08); got != 1 { // just above half: rounds up
		t.Errorf("just above 2^-25 → %#04x, want 1", got)
	}
}

// A narrowed value is the nearest representable one: no neighbour is closer.
func TestNarrowingIsNearest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		f := math.Float32frombits(r.Uint32())
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			continue
		}
		for _, c := range []struct {
			name   string
			narrow func(float32) uint16
			widen  func(uint16) float32
		}{{"f16", Float32ToF16, F16ToFloat32}, {"bf16", Float32ToBF16, BF16ToFloat32}} {
			h := c.narrow(f)
			got := c.widen(h)
			if math.IsInf(float64(got), 0) {
				continue // overflow is checked by the known-value tests
			}
			d := math.Abs(float64(got) - float64(f))
			for _, nb := range []uint16{h - 1, h + 1} {
				v := c.widen(nb)
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Signbit(float64(v)) != math.Signbit(float64(got)) {
					continue
				}
				if nd := math.Abs(float64(v) - float64(f)); nd < d {
					t.Fatalf("%s: %g narrowed to %g, but %g is closer", c.name, f, got, v)
				}
			}
		}
	}
}

func TestBF16KnownValues(t *testing.T) {
	tests := []struct {
		f    float32
		bits uint16
	}{
		{1, 0x3f80}, {-2, 0xc000}, {3.140625, 0x4049},
		{1.00390625, 0x3f80},          // halfway between 0x3f80 and 0x3f81: even
		{1.01171875, 0x3f82},          // halfway between 0x3f81 and 0x3f82: even
		{3.4028235e38, 0x7f80},        // max float32 rounds to Inf
		{float32(math.NaN()), 0x7fc0}, // quiet NaN
	}
	for _, tt := range tests {
		if got := Float32ToBF16(tt.f); got != tt.bits {
			t.Errorf("Float32ToBF16(%g) = %#04x, want %#04x", tt.f, got, tt.bits)
		}
	}
	if BF16ToFloat32(0x4049) != 3.140625 {
		t.Error("BF16ToFloat32(0x4049) != 3.140625")
	}
}

func TestDecodeEncodeErrors(t *testing.T) {
	if err := DecodeFloat32s(make([]float32, 2), BF16, make([]byte, 3)); err == nil {
		t.Error("decode with a wrong length must fail")
	}
	if _, err := EncodeFloat32s(I8, []float32{1}); err == nil {
		t.Error("encode I8 must fail")
	}
}
