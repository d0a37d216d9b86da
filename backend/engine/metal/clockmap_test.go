package metal

import (
	"math"
	"testing"
)

func TestPageSpan(t *testing.T) {
	tests := []struct {
		p           uintptr
		n, page     int
		base        uintptr
		off, length int
	}{
		{0x10000, 100, 16384, 0x10000, 0, 16384},
		{0x10010, 16384, 16384, 0x10000, 16, 32768},
		{0x13fff, 1, 16384, 0x10000, 16383, 16384},
		{0x14000, 16384, 16384, 0x14000, 0, 16384},
		{0x1001, 4095, 4096, 0x1000, 1, 4096},
		{0x1001, 4096, 4096, 0x1000, 1, 8192},
	}
	for _, tt := range tests {
		base, off, length := PageSpan(tt.p, tt.n, tt.page)
		if base != tt.base || off != tt.off || length != tt.length {
			t.Errorf("PageSpan(%#x, %d, %d) = %#x, %d, %d; want %#x, %d, %d", tt.p, tt.n, tt.page, base, off, length, tt.base, tt.off, tt.length)
		}
	}
}

// TestClockMap: device ticks at 24 MHz from an arbitrary origin map onto
// the monotonic clock within the pairs' uncertainty; a preempted pair is
// not trusted.
func TestClockMap(t *testing.T) {
	dev := func(mono int64) int64 { return 5_000_000_000 + mono*3/125 }
	var c clockMap
	if got := c.mono(42); got != 42 {
		t.Errorf("an empty map converts 42 to %d, want it unchanged", got)
	}
	c.add(ClockPair{Before: 1_000_000, After: 1_004_000, Device: dev(1_002_000)})
	// One pair: rate 1 assumed; offset right at the pair.
	if got := c.mono(dev(1_002_000)); got != 1_002_000 {
		t.Errorf("at the only pair: %d", got)
	}
	// A preempted pair (2 ms bracket) is ignored.
	c.add(ClockPair{Before: 50_000_000, After: 52_000_000, Device: dev(50_100_000)})
	if c.last.Before != 1_000_000 {
		t.Error("a pair bracketed by 2 ms was used")
	}
	c.add(ClockPair{Before: 3_000_000_000, After: 3_000_010_000, Device: dev(3_000_005_000)})
	for _, mono := range []int64{1_500_000_000, 2_999_000_000, 3_100_000_000} {
		got := c.mono(dev(mono))
		// 24 MHz ticks are 41.7 ns; the pairs' midpoints are exact here.
		if math.Abs(float64(got-mono)) > 100 {
			t.Errorf("tick of %d maps to %d", mono, got)
		}
	}
	if r := c.rate(); math.Abs(r-125.0/3) > 1e-3 {
		t.Errorf("rate %g ns/tick, want 41.667", r)
	}
}
