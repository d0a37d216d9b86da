package windows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/power"
	"energyprofiler/backend/profiler"
)

type recorder struct {
	mu   sync.Mutex
	recs map[string]*profiler.Record
	done chan string
}

func (r *recorder) RunStarted(profiler.RunInfo) {}
func (r *recorder) RunFinished(rec *profiler.Record) {
	r.mu.Lock()
	r.recs[rec.Run.ID] = rec
	r.mu.Unlock()
	r.done <- rec.Run.ID
}

// newRegistry starts windows against a constant 20 W counter fed around now.
func newRegistry() (*Registry, *recorder) {
	rec := &recorder{recs: map[string]*profiler.Record{}, done: make(chan string, 16)}
	p := profiler.New(profiler.Options{Idle: -1, Host: &profiler.Host{OS: "test"}, Recorder: rec, FlushTimeout: time.Millisecond})
	return New(func(ctx context.Context, meta profiler.Meta, idle time.Duration) (*profiler.Run, error) {
		run, err := p.Start(ctx, meta)
		if err != nil {
			return nil, err
		}
		now := clock.Now()
		for t := now - int64(time.Second); t < now+int64(10*time.Second); t += int64(100 * time.Millisecond) {
			run.AddSample(power.Sample{T0: t, T1: t + int64(100*time.Millisecond), Source: "rapl", Kind: power.KindCounter,
				Domains: map[power.Domain]power.Reading{power.DomainPackage: {EnergyMJ: 2000, HasEnergy: true}}})
		}
		return run, nil
	}), rec
}

func TestWindowStopWithTokens(t *testing.T) {
	reg, rec := newRegistry()
	info, err := reg.Open(context.Background(), OpenRequest{Name: "epoch 3", Tags: []string{"train"}, Note: "lr 3e-4"})
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.List()) != 1 {
		t.Fatalf("open windows %v", reg.List())
	}
	time.Sleep(50 * time.Millisecond)
	out := 500
	sum, err := reg.Stop(info.ID, StopRequest{TokensOut: &out, Tags: []string{"epoch-3", "train"}})
	if err != nil {
		t.Fatal(err)
	}
	got := rec.recs[<-rec.done]
	if got.Run.Status != profiler.StatusCompleted || got.Run.Kind != profiler.KindWindow || got.Run.ModelName != "epoch 3" || got.Run.Note != "lr 3e-4" {
		t.Fatalf("%+v", got.Run)
	}
	if len(got.Run.Tags) != 2 || got.Run.Tags[1] != "epoch-3" {
		t.Errorf("tags %v", got.Run.Tags)
	}
	// 20 W over the window: energy / 500 tokens.
	e, ok := sum.TotalEnergyJ.Get()
	jpt, ok2 := sum.JoulesPerToken.Get()
	d, _ := sum.DurationS.Get()
	if !ok || !ok2 || d < 0.04 || abs(e-20*d) > 1e-6*e+1e-9 || abs(jpt-e/500) > 1e-12 {
		t.Errorf("energy %v over %v s, J/token %v", e, d, jpt)
	}
	if v, ok := sum.JoulesPerOutputToken.Get(); !ok || v != jpt {
		t.Errorf("J per output token %v, want the window's J per token %v", v, jpt)
	}
	if sum.OutputTokens != 500 || sum.OutputTokensSource != GivenByCaller || sum.InputTokensSource != NotGiven {
		t.Errorf("counts %d %q %q", sum.OutputTokens, sum.OutputTokensSource, sum.InputTokensSource)
	}
	if len(got.Phases) != 1 || got.Phases[0].Phase != Phase {
		t.Errorf("phases %+v", got.Phases)
	}
	if _, err := reg.Stop(info.ID, StopRequest{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("second stop: %v", err)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestWindowFailedAbandonedInterrupted(t *testing.T) {
	reg, rec := newRegistry()
	ctx := context.Background()
	a, _ := reg.Open(ctx, OpenRequest{Name: "raises"})
	if _, err := reg.Stop(a.ID, StopRequest{Error: "ValueError: bad batch"}); err != nil {
		t.Fatal(err)
	}
	if r := rec.recs[<-rec.done]; r.Run.Status != profiler.StatusFailed || r.Run.Error != "ValueError: bad batch" || r.Summary == nil {
		t.Errorf("failed window %s %q", r.Run.Status, r.Run.Error)
	}

	b, _ := reg.Open(ctx, OpenRequest{Name: "forgotten", Timeout: 60 * time.Millisecond})
	select {
	case id := <-rec.done:
		r := rec.recs[id]
		if id != b.ID || r.Run.Status != profiler.StatusAbandoned || r.Summary == nil {
			t.Errorf("abandoned window %s %s", id, r.Run.Status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the window was not abandoned")
	}
	if _, err := reg.Stop(b.ID, StopRequest{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("stop after abandon: %v", err)
	}

	c, _ := reg.Open(ctx, OpenRequest{Name: "open at shutdown"})
	reg.Close()
	if r := rec.recs[<-rec.done]; r.Run.ID != c.ID || r.Run.Status != profiler.StatusInterrupted {
		t.Errorf("shutdown: %s", r.Run.Status)
	}
	if _, err := reg.Open(ctx, OpenRequest{}); err == nil {
		t.Error("opened a window after Close")
	}
	if _, err := reg.Open(ctx, OpenRequest{Timeout: -time.Second}); err == nil {
		t.Error("negative timeout accepted")
	}
}
