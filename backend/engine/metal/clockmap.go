package metal

// clockMap maps device ticks onto clock.Now() nanoseconds. Each Run hands
// over clock pairs: a device-clock reading taken between two clock.Now()
// readings. The map is a line through two good pairs: the first one and
// the latest. The long baseline between them makes the rate precise (the
// device may count in nanoseconds, in host-time units or in GPU ticks: the
// map does not assume which), and the latest pair keeps the offset fresh.
// A pair whose two clock.Now() readings are far apart (the thread was
// preempted while sampling) is not trusted.
type clockMap struct {
	first, last ClockPair
	n           int
}

// maxPairSpread is the widest Before–After bracket a pair may have to be
// used once the map has one: 200 µs.
const maxPairSpread = 200_000

func (p ClockPair) mid() int64    { return p.Before + (p.After-p.Before)/2 }
func (p ClockPair) spread() int64 { return p.After - p.Before }

// add takes a pair into the map.
func (c *clockMap) add(p ClockPair) {
	if p.After < p.Before {
		return
	}
	switch {
	case c.n == 0:
		c.first, c.last = p, p
	case p.spread() > maxPairSpread && c.first.spread() <= maxPairSpread:
		return
	case c.n == 1 && c.first.spread() > maxPairSpread && p.spread() <= maxPairSpread:
		c.first, c.last = p, p // replace a poor first pair by a good one
		return
	default:
		c.last = p
	}
	c.n++
}

// rate is clock.Now() nanoseconds per device tick: from the two pairs once
// they are at least a millisecond apart, else 1 (ticks taken for ns).
func (c *clockMap) rate() float64 {
	dt := c.last.Device - c.first.Device
	dm := c.last.mid() - c.first.mid()
	if dt <= 0 || dm < 1_000_000 {
		return 1
	}
	return float64(dm) / float64(dt)
}

// mono converts device ticks to clock.Now() nanoseconds.
func (c *clockMap) mono(ticks int64) int64 {
	if c.n == 0 {
		return ticks
	}
	return c.last.mid() + int64(float64(ticks-c.last.Device)*c.rate())
}
