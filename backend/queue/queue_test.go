package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gate is an executor whose jobs block until released, recording the order
// they ran in and the most that ever ran at once.
type gate struct {
	mu       sync.Mutex
	order    []string
	release  map[string]chan struct{}
	running  atomic.Int32
	maxSeen  atomic.Int32
	started  chan string
	emitEach int
}

func newGate() *gate {
	return &gate{release: map[string]chan struct{}{}, started: make(chan string, 100)}
}

func (g *gate) ch(id string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.release[id]
	if !ok {
		c = make(chan struct{})
		g.release[id] = c
	}
	return c
}

func (g *gate) exec(ctx context.Context, j *Job, emit func(Event)) (any, error) {
	n := g.running.Add(1)
	defer g.running.Add(-1)
	for {
		m := g.maxSeen.Load()
		if n <= m || g.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	g.mu.Lock()
	g.order = append(g.order, j.ID)
	g.mu.Unlock()
	g.started <- j.ID
	for i := 0; i < g.emitEach; i++ {
		emit(Event{JobID: j.ID, Type: "token", Data: i})
	}
	select {
	case <-g.ch(j.ID):
		return "result-" + j.ID, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func waitStarted(t *testing.T, g *gate, want string) {
	t.Helper()
	select {
	case got := <-g.started:
		if got != want {
			t.Fatalf("started %s, want %s", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("job %s never started", want)
	}
}

func TestJobsRunOneAtATimeInOrder(t *testing.T) {
	g := newGate()
	q := New(t.Context(), g.exec, Options{})
	for i := range 3 {
		if _, err := q.Submit(fmt.Sprint(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	waitStarted(t, g, "0")
	if _, pos, _ := q.Status("2"); pos != 2 {
		t.Errorf("job 2 position = %d, want 2", pos)
	}
	if st, pos, _ := q.Status("0"); st != StateRunning || pos != 0 {
		t.Errorf("job 0 = %s/%d, want running/0", st, pos)
	}
	for i := range 3 {
		id := fmt.Sprint(i)
		if i > 0 {
			waitStarted(t, g, id)
		}
		close(g.ch(id))
		res, err := q.Wait(t.Context(), id)
		if err != nil || res != "result-"+id {
			t.Fatalf("Wait(%s) = %v, %v", id, res, err)
		}
	}
	if g.maxSeen.Load() != 1 {
		t.Errorf("%d jobs ran at once, want 1", g.maxSeen.Load())
	}
	if fmt.Sprint(g.order) != "[0 1 2]" {
		t.Errorf("order %v", g.order)
	}
}

func TestCancelQueuedAndRunning(t *testing.T) {
	g := newGate()
	q := New(t.Context(), g.exec, Options{})
	q.Submit("a", nil)
	q.Submit("b", nil)
	waitStarted(t, g, "a")
	if err := q.Cancel("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Wait(t.Context(), "b"); !errors.Is(err, context.Canceled) {
		t.Errorf("queued job after cancel: %v, want context.Canceled", err)
	}
	if err := q.Cancel("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Wait(t.Context(), "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("running job after cancel: %v", err)
	}
	if st, _, _ := q.Status("a"); st != StateCancelled {
		t.Errorf("state %s, want cancelled", st)
	}
	if err := q.Cancel("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancel unknown: %v", err)
	}
}

func TestFullQueueIsRefused(t *testing.T) {
	g := newGate()
	q := New(t.Context(), g.exec, Options{MaxQueued: 2})
	q.Submit("run", nil)
	waitStarted(t, g, "run")
	q.Submit("w1", nil)
	q.Submit("w2", nil)
	if _, err := q.Submit("w3", nil); !errors.Is(err, ErrFull) {
		t.Fatalf("third waiting job: %v, want ErrFull", err)
	}
}

func TestPanicBecomesFailure(t *testing.T) {
	q := New(t.Context(), func(context.Context, *Job, func(Event)) (any, error) { panic("boom") }, Options{})
	q.Submit("x", nil)
	_, err := q.Wait(t.Context(), "x")
	if err == nil || st(q, "x") != StateFailed {
		t.Fatalf("err %v state %s", err, st(q, "x"))
	}
}

func st(q *Queue, id string) State { s, _, _ := q.Status(id); return s }

func TestLateJoinerGetsCurrentStateFirst(t *testing.T) {
	g := newGate()
	g.emitEach = 3
	q := New(t.Context(), g.exec, Options{})
	q.Submit("r", nil)
	waitStarted(t, g, "r")
	// The executor emitted tokens 0..2 before this subscriber joined.
	time.Sleep(10 * time.Millisecond)
	sub := q.Subscribe()
	defer q.Unsubscribe(sub)
	seen := map[string]any{}
	var order []string
	for len(seen) < 3 {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		ev, ok := sub.Next(ctx)
		cancel()
		if !ok {
			t.Fatalf("snapshot incomplete: %v", seen)
		}
		seen[ev.Type] = ev.Data
		order = append(order, ev.Type)
	}
	if fmt.Sprint(order) != "[started token queue]" {
		t.Errorf("snapshot order %v: lifecycle first, then frequent, then queue", order)
	}
	if seen["token"] != 2 {
		t.Errorf("late joiner's token = %v, want the latest (2)", seen["token"])
	}
	if _, ok := seen["started"]; !ok {
		t.Errorf("late joiner missed the started state: %v", seen)
	}
	close(g.ch("r"))
	for {
		ev, ok := sub.Next(t.Context())
		if !ok {
			t.Fatal("subscription closed before the finished event")
		}
		if ev.Type == "finished" {
			return
		}
	}
}

func TestSlowSubscriberIsDownSampledWithoutStallingTheJob(t *testing.T) {
	g := newGate()
	g.emitEach = 10_000
	q := New(t.Context(), g.exec, Options{SubscriberBuffer: 8})
	slow := q.Subscribe() // not read until the job is over
	q.Submit("r", nil)
	waitStarted(t, g, "r")
	close(g.ch("r"))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := q.Wait(ctx, "r"); err != nil {
		t.Fatalf("the job stalled behind a slow subscriber: %v", err)
	}
	var types []string
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		ev, ok := slow.Next(ctx)
		cancel()
		if !ok {
			break
		}
		types = append(types, ev.Type)
	}
	if slow.Dropped() || slow.Skipped() < 9000 {
		t.Errorf("dropped=%v skipped=%d, want down-sampled", slow.Dropped(), slow.Skipped())
	}
	if len(types) == 0 || types[len(types)-1] != "finished" {
		t.Errorf("the lagging subscriber missed the finished event: %v", types)
	}
}

func TestHopelesslySlowSubscriberIsDropped(t *testing.T) {
	q := New(t.Context(), func(ctx context.Context, j *Job, emit func(Event)) (any, error) {
		for i := range 100 {
			emit(Event{JobID: j.ID, Type: "phase", Data: i}) // lifecycle events are never skipped
		}
		return nil, nil
	}, Options{SubscriberBuffer: 8})
	slow := q.Subscribe()
	q.Submit("r", nil)
	if _, err := q.Wait(t.Context(), "r"); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		if _, ok := slow.Next(t.Context()); !ok {
			break
		}
		n++
	}
	if !slow.Dropped() || n > 4*8 {
		t.Errorf("dropped=%v after %d events", slow.Dropped(), n)
	}
}

func TestShutdownCancelsWaitingJobs(t *testing.T) {
	g := newGate()
	ctx, cancel := context.WithCancel(t.Context())
	q := New(ctx, g.exec, Options{})
	q.Submit("a", nil)
	q.Submit("b", nil)
	waitStarted(t, g, "a")
	cancel()
	<-q.Stopped()
	for _, id := range []string{"a", "b"} {
		if s := st(q, id); s != StateCancelled {
			t.Errorf("%s: %s, want cancelled", id, s)
		}
	}
	if _, err := q.Submit("c", nil); err == nil {
		t.Error("submit after shutdown succeeded")
	}
}

func TestBroadcastReachesLateJoiners(t *testing.T) {
	q := New(t.Context(), newGate().exec, Options{})
	q.Broadcast("power", 1)
	q.Broadcast("power", 2)
	sub := q.Subscribe()
	defer q.Unsubscribe(sub)
	ev, ok := sub.Next(t.Context())
	if !ok || ev.Type != "power" || ev.Data != 2 || ev.JobID != "" {
		t.Fatalf("first event %+v, want the latest broadcast power", ev)
	}
	q.Broadcast("power", 3)
	if ev, _ := sub.Next(t.Context()); ev.Type != "queue" {
		t.Fatalf("then %+v, want the queue state", ev)
	}
	if ev, _ := sub.Next(t.Context()); ev.Data != 3 {
		t.Fatalf("live broadcast %+v", ev)
	}
}

func TestLateJoinerAfterARunSeesItFinishedLast(t *testing.T) {
	// Wait used to return as soon as the job was done, before its
	// "finished" event was published, so a client subscribing at once
	// could see the queue event first and "finished" after it (about one
	// time in 600); many rounds make that window show.
	for round := range 2000 {
		ctx, cancel := context.WithCancel(t.Context())
		q := New(ctx, func(ctx context.Context, j *Job, emit func(Event)) (any, error) {
			emit(Event{JobID: j.ID, Type: "run"})
			emit(Event{JobID: j.ID, Type: "phase"})
			emit(Event{JobID: j.ID, Type: "token"})
			return "sum", nil
		}, Options{})
		q.Submit("r", nil)
		if _, err := q.Wait(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		sub := q.Subscribe()
		var order []string
		for len(order) < 6 {
			ev, ok := sub.Next(ctx)
			if !ok {
				break
			}
			order = append(order, ev.Type)
		}
		q.Unsubscribe(sub)
		cancel()
		if got := fmt.Sprint(order); got != "[run started phase token finished queue]" {
			t.Fatalf("round %d: late joiner replay %s", round, got)
		}
	}
}

// Issue 12 item 5: the queue tells its owner about every job it accepts
// (before the job can run) and about every end, including jobs that never
// ran: cancelled while queued, or dropped at shutdown.
func TestAcceptAndEndedHooksSeeEveryJob(t *testing.T) {
	g := newGate()
	var mu sync.Mutex
	accepted := map[string]bool{}
	ended := map[string]State{}
	ctx, cancel := context.WithCancel(t.Context())
	q := New(ctx, g.exec, Options{
		Accept: func(j *Job) error {
			mu.Lock()
			defer mu.Unlock()
			if j.ID == "refused" {
				return errors.New("cannot store runs")
			}
			accepted[j.ID] = true
			return nil
		},
		Ended: func(j *Job, state State, err error) {
			mu.Lock()
			defer mu.Unlock()
			if !accepted[j.ID] {
				t.Errorf("job %s ended without being accepted", j.ID)
			}
			ended[j.ID] = state
		},
	})
	if _, err := q.Submit("refused", nil); err == nil || st(q, "refused") != "" {
		t.Fatalf("a job the owner refused was queued: %v", err)
	}
	for _, id := range []string{"runs", "cancelled", "left"} {
		if _, err := q.Submit(id, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitStarted(t, g, "runs")
	q.Cancel("cancelled")
	close(g.ch("runs"))
	q.Wait(t.Context(), "runs")
	waitStarted(t, g, "left")
	cancel() // shutdown while "left" runs
	<-q.Stopped()
	mu.Lock()
	defer mu.Unlock()
	want := map[string]State{"runs": StateDone, "cancelled": StateCancelled, "left": StateCancelled}
	if fmt.Sprint(ended) != fmt.Sprint(want) {
		t.Errorf("ended %v, want %v", ended, want)
	}
}

// Ended runs before Wait returns, so a waiter can read what it stored.
func TestEndedRunsBeforeWaitReturns(t *testing.T) {
	var stored atomic.Bool
	q := New(t.Context(), func(context.Context, *Job, func(Event)) (any, error) { return nil, errors.New("no model") },
		Options{Ended: func(*Job, State, error) { time.Sleep(20 * time.Millisecond); stored.Store(true) }})
	q.Submit("x", nil)
	q.Wait(t.Context(), "x")
	if !stored.Load() {
		t.Error("Wait returned before Ended finished")
	}
}
