package profiler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/power"
)

func TestLiveEvents(t *testing.T) {
	live := make(chan Event, 10000)
	run, err := New(Options{Idle: -1, Live: live, Host: &Host{}}).Start(context.Background(), Meta{ModelName: "m", Settings: Settings{Depth: "module"}})
	if err != nil {
		t.Fatal(err)
	}
	base := clock.Now()
	// RAPL reports cpu = package ⊇ core: the live total must count 20 W, not 52.
	run.AddSample(power.Sample{T0: base - 100*ms, T1: base + 10000*ms, Source: "rapl", Kind: power.KindCounter, Domains: map[power.Domain]power.Reading{
		power.DomainCPU: {PowerMW: 20000, HasPower: true}, power.DomainPackage: {PowerMW: 20000, HasPower: true}, power.DomainCore: {PowerMW: 12000, HasPower: true}}})
	drive(run, traceSpec{base: base, prompt: 3, tokens: 5, layers: 2, tokenNs: ms, compNs: 2 * ms})
	if _, err := run.Finish(); err != nil {
		t.Fatal(err)
	}
	close(live)
	counts := map[string]int{}
	for ev := range live {
		counts[ev.Type]++
		if ev.RunID != run.ID() {
			t.Fatalf("event for run %q, want %q", ev.RunID, run.ID())
		}
		switch ev.Type {
		case "token":
			if ev.Token.EnergyJ == nil || math.Abs(*ev.Token.EnergyJ-20*ev.Token.DurationMs/1e3) > 1e-9 || ev.Token.Label != "apportioned rapl (live)" {
				t.Errorf("live token energy %v J over %v ms (%s), want 20 W × duration", ev.Token.EnergyJ, ev.Token.DurationMs, ev.Token.Label)
			}
		case "heatmap":
			want := 2000.0 // µs per component call
			if ev.Heatmap.TokenIndex == 0 {
				want = 6000 // the prompt pass
			}
			if len(ev.Heatmap.DurationUs) != 2 || ev.Heatmap.DurationUs[1][0] != want {
				t.Errorf("token %d heatmap = %+v, want 2 layers with %v µs per component", ev.Heatmap.TokenIndex, ev.Heatmap.DurationUs, want)
			}
		case "completed":
			if ev.Summary == nil || ev.Status != StatusCompleted {
				t.Errorf("completed event: %+v", ev)
			}
		}
	}
	for typ, want := range map[string]int{"run_started": 1, "phase": 4, "token": 5, "heatmap": 5, "power": 1, "completed": 1} {
		if counts[typ] != want {
			t.Errorf("%d %s events, want %d (all: %v)", counts[typ], typ, want, counts)
		}
	}
	if counts["position"] == 0 {
		t.Error("want throttled position events")
	}
}

func TestLiveNeverBlocks(t *testing.T) {
	live := make(chan Event) // nobody reads it
	run, err := New(Options{Idle: -1, Live: live, Host: &Host{}}).Start(context.Background(), Meta{ModelName: "m"})
	if err != nil {
		t.Fatal(err)
	}
	drive(run, traceSpec{base: clock.Now(), prompt: 3, tokens: 50, layers: 2, tokenNs: ms, compNs: ms})
	if _, err := run.Finish(); err != nil {
		t.Fatal(err)
	}
	if run.DroppedEvents() == 0 {
		t.Error("events to a channel nobody reads must be dropped and counted")
	}
}

func TestCallerChosenID(t *testing.T) {
	const id = "0b7f3c1e-5d2a-4c59-9a43-2f1e8d6b7a90"
	run, err := New(Options{Idle: -1, Host: &Host{}}).Start(context.Background(), Meta{ID: id, ModelName: "m"})
	if err != nil || run.ID() != id {
		t.Fatalf("run id %v (%v), want %s", run, err, id)
	}
	if _, err := New(Options{Idle: -1, Host: &Host{}}).Start(context.Background(), Meta{ID: "../x", ModelName: "m"}); err == nil {
		t.Error("a non-UUID id must be refused")
	}
}

func TestAbortCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New(Options{Idle: 50 * 1e6, Host: &Host{}}).Start(ctx, Meta{ModelName: "m"})
	if err == nil {
		t.Fatal("a cancelled context during the idle baseline must fail Start")
	}
	run, err := New(Options{Idle: -1, Host: &Host{}}).Start(context.Background(), Meta{ModelName: "m"})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := run.Abort(fmt.Errorf("decode token 3: %w", context.Canceled))
	if err != nil || sum.Status != StatusCancelled || run.Record().Run.Error == "" {
		t.Errorf("abort: %v %+v", err, sum)
	}
	// The stored reason is words for a reader, not Go's "context canceled".
	if why := run.Record().Run.Error; strings.Contains(why, "context canceled") || !strings.Contains(why, "cancelled while running") {
		t.Errorf("reason %q", why)
	}
}

// orderRecorder notes what a Recorder is told, in order.
type orderRecorder struct{ calls []string }

func (o *orderRecorder) RunStarted(info RunInfo) {
	o.calls = append(o.calls, "started "+string(info.Status))
}
func (o *orderRecorder) RunEnding(info RunInfo) {
	o.calls = append(o.calls, fmt.Sprintf("ending %s finished=%v says-unstored=%v", info.Status, info.FinishedAt != nil, strings.Contains(info.Error, "measurements were not stored")))
}
func (o *orderRecorder) RunFinished(rec *Record) {
	o.calls = append(o.calls, fmt.Sprintf("finished %s says-unstored=%v", rec.Run.Status, strings.Contains(rec.Run.Error, "not stored")))
}

// TestStoppedRunTellsItsEndFirst: a run that stops short hands its terminal
// status (with its end time, and a reason saying the measurements were not
// stored, true only if the record never follows) to the recorder before
// building its record, so a process that must exit meanwhile leaves it
// stored with that status; the record's reason is the plain one; a
// completed run goes straight to its record.
func TestStoppedRunTellsItsEndFirst(t *testing.T) {
	for _, c := range []struct {
		stop func(*Run) (*Summary, error)
		want []string
	}{
		{func(r *Run) (*Summary, error) { return r.Abort(context.Canceled) },
			[]string{"started running", "ending cancelled finished=true says-unstored=true", "finished cancelled says-unstored=false"}},
		{func(r *Run) (*Summary, error) { return r.Abort(errors.New("engine: logits are NaN")) },
			[]string{"started running", "ending failed finished=true says-unstored=true", "finished failed says-unstored=false"}},
		{func(r *Run) (*Summary, error) { return r.Finish() },
			[]string{"started running", "finished completed says-unstored=false"}},
	} {
		rec := &orderRecorder{}
		run, err := New(Options{Idle: -1, Host: &Host{}, Recorder: rec}).Start(context.Background(), Meta{ModelName: "m"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.stop(run); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rec.calls, c.want) {
			t.Errorf("recorder was told %q, want %q", rec.calls, c.want)
		}
	}
}

// The Go API without the engine: a program brackets its own steps with
// phases of any name, like Zeus' windows.
func TestGoAPIWindowsWithoutEngine(t *testing.T) {
	run, err := New(Options{Idle: -1, Host: &Host{}}).Start(context.Background(), Meta{ModelName: "my-program"})
	if err != nil {
		t.Fatal(err)
	}
	base := clock.Now()
	run.AddSample(counterSample("rapl", power.DomainPackage, base-time.Second.Nanoseconds(), base+time.Minute.Nanoseconds(), 15))
	run.PhaseStart("load", base)
	run.PhaseEnd("load", base+30*ms)
	run.PhaseStart("compute", base+30*ms)
	run.PhaseEnd("compute", base+130*ms)
	sum, err := run.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if got := *sum.TotalEnergyJ.Value; !near(got, 15*0.130, 1e-9) {
		t.Errorf("run energy %v J, want 15 W × 130 ms", got)
	}
	if got, _ := sum.PhaseEnergy["compute"].TotalJ(); !near(got, 1.5, 1e-9) {
		t.Errorf("compute window %v J, want 1.5", got)
	}
	if sum.DecodeTokensPerSecond.Value != nil || sum.JoulesPerToken.Value != nil {
		t.Error("no tokens: token metrics must be unavailable, not 0")
	}
}
