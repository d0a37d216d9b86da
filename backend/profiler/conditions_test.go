package profiler

import (
	"context"
	"testing"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/thermal"
)

// A run keeps the OS's thermal and power state from its start and its end.
func TestRunRecordsConditionsAtStartAndEnd(t *testing.T) {
	reads := 0
	read := func() thermal.State {
		reads++
		n := int64(10 * reads) // throttle counter grows between reads
		return thermal.State{ThrottleEvents: &n}
	}
	p := New(Options{Idle: -1, Host: &Host{OS: "test"}, Conditions: read})
	run, err := p.Start(context.Background(), Meta{ModelName: "m", Settings: Settings{Depth: "module"}})
	if err != nil {
		t.Fatal(err)
	}
	drive(run, traceSpec{base: clock.Now(), prompt: 2, tokens: 3, layers: 1, tokenNs: ms, compNs: ms})
	if _, err := run.Finish(); err != nil {
		t.Fatal(err)
	}
	c := run.Record().Run.Host.Conditions
	if reads != 2 || c == nil || c.Start == nil || c.End == nil || *c.Start.ThrottleEvents != 10 || *c.End.ThrottleEvents != 20 {
		t.Fatalf("%d reads, conditions %+v", reads, c)
	}
	if th, ok := c.Throttled(); !ok || !th {
		t.Errorf("throttled = %v, %v", th, ok)
	}
	// Without a reader, nothing is recorded (not an empty state).
	run2, _ := New(Options{Idle: -1, Host: &Host{OS: "test"}}).Start(context.Background(), Meta{ModelName: "m"})
	run2.Finish()
	if run2.Record().Run.Host.Conditions != nil {
		t.Error("conditions recorded without a reader")
	}
}
