// Package clock owns the one monotonic clock that every timestamp in the
// profiler is read from: engine events, power samples and run boundaries.
// Sharing a clock is what lets the profiler line timings up with power.
package clock

import "time"

// origin is fixed at process start and never changes; Now is measured from it
// with Go's monotonic reading, so wall-clock jumps (NTP, sleep) cannot move it.
var origin = time.Now()

// Now returns nanoseconds since the process started, on the monotonic clock.
func Now() int64 { return int64(time.Since(origin)) }

// Wall converts a monotonic timestamp from Now back to wall-clock time, for
// display and storage.
func Wall(t int64) time.Time { return origin.Add(time.Duration(t)) }
