package power

import (
	"errors"
	"testing"
)

// machTicks must release every host port it takes (the review found the
// mach_host_self() right was never released), and survive the 32-bit
// counters wrapping.
func TestMachTicksReleasesHostPortAndWraps(t *testing.T) {
	taken, released := 0, 0
	seq := [][cpuStateMax]uint32{
		{100, 50, 1000, 0},
		{0xffff_fff0, 60, 1100, 5}, // a large step, no wrap yet
		{0x10, 70, 1200, 5},        // user wrapped: +0x20
	}
	i := 0
	fail := false
	m := &machTicks{
		hostPort: func() uint32 { taken++; return 77 },
		release: func(p uint32) {
			if p != 77 {
				t.Errorf("released port %d, want 77", p)
			}
			released++
		},
		statistics: func(host uint32, ticks *[cpuStateMax]uint32) error {
			if fail {
				return errors.New("KERN_FAILURE")
			}
			*ticks = seq[i]
			i++
			return nil
		},
	}
	var got []cpuTimes
	for range seq {
		c, err := m.read()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	fail = true
	if _, err := m.read(); err == nil {
		t.Error("a failed host_statistics gave no error")
	}
	if taken != 4 || released != 4 {
		t.Errorf("took %d host ports, released %d; want 4 and 4", taken, released)
	}
	// Step 1: user +0xffffff90, system +10, nice +5, idle +100.
	b1 := uint64(0xffff_fff0-100) + 10 + 5
	// Step 2: user +0x20 across the wrap, system +10, idle +100.
	b2 := uint64(0x20) + 10
	want := []cpuTimes{{0, 0}, {b1, b1 + 100}, {b1 + b2, b1 + b2 + 200}}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("read %d = %+v, want %+v", k, got[k], want[k])
		}
	}
}
