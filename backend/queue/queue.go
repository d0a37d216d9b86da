// Package queue runs profiling jobs one at a time, in the order they were
// submitted. It owns job identity, queue positions, cancellation (queued or
// mid-run), waiting for a result, and the live event stream that the API's
// WebSocket relays: every subscriber gets the current state first, then the
// events, and a subscriber that cannot keep up is dropped rather than ever
// stalling the job that produces the events.
package queue

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// State is where a job is in its life.
type State string

const (
	StateQueued    State = "queued"
	StateRunning   State = "running"
	StateDone      State = "done"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
)

// Event is one live update from a running job. Type names what it is
// ("phase", "token", "power", "heatmap", "done", …) and Data carries its
// JSON-encodable payload.
type Event struct {
	JobID string `json:"run_id"`
	Type  string `json:"type"`
	Data  any    `json:"data,omitempty"`
}

// Executor does the work of one job. It must honour ctx (cancellation) and
// may call emit as often as it likes: emit never blocks.
type Executor func(ctx context.Context, job *Job, emit func(Event)) (result any, err error)

// Job is one submitted piece of work.
type Job struct {
	ID      string
	Request any

	mu       sync.Mutex
	state    State
	result   any
	err      error
	done     chan struct{}
	cancel   context.CancelFunc
	canceled bool
}

// State returns the job's current state.
func (j *Job) State() State {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state
}

// ErrFull is returned by Submit when the queue already holds its maximum.
var ErrFull = errors.New("the run queue is full")

// ErrNotFound is returned for job IDs the queue does not know (never
// submitted, or finished long enough ago to be forgotten).
var ErrNotFound = errors.New("no such job in the queue")

// Options configure a Queue.
type Options struct {
	// MaxQueued bounds the jobs waiting to run (default 1000).
	MaxQueued int
	// SubscriberBuffer is how many events a live subscriber may fall behind
	// before its frequent events are skipped (default 256).
	SubscriberBuffer int
	// Keep is how many finished jobs stay known for Wait and Status
	// (default 100).
	Keep int
	// Accept, when set, is called by Submit for every job before it is
	// queued (the server stores the run as queued, so an accepted run can
	// always be found); an error refuses the job and Submit returns it.
	Accept func(job *Job) error
	// Ended, when set, is called once for every accepted job as it ends,
	// before Wait returns: done, failed or cancelled, whether it ran or not
	// (cancelled while queued, dropped at shutdown). err is why it did not
	// complete.
	Ended func(job *Job, state State, err error)
}

// ErrShutdown is the error of jobs still queued when the queue shut down.
var ErrShutdown = fmt.Errorf("the server stopped before the run started: %w", context.Canceled)

// Queue runs jobs one at a time.
type Queue struct {
	exec Executor
	opts Options

	mu       sync.Mutex
	pending  []*Job
	running  *Job
	jobs     map[string]*Job
	finished []string // oldest first, for forgetting
	wake     chan struct{}
	subs     map[*Subscription]struct{}
	snapshot map[string]Event // latest event per type for the running job
	ambient  map[string]Event // latest Broadcast event per type
	closed   bool
	stopped  chan struct{}
}

// New starts a queue whose worker runs until ctx ends.
func New(ctx context.Context, exec Executor, opts Options) *Queue {
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = 1000
	}
	if opts.SubscriberBuffer <= 0 {
		opts.SubscriberBuffer = 256
	}
	if opts.Keep <= 0 {
		opts.Keep = 100
	}
	q := &Queue{
		exec:     exec,
		opts:     opts,
		jobs:     map[string]*Job{},
		wake:     make(chan struct{}, 1),
		subs:     map[*Subscription]struct{}{},
		snapshot: map[string]Event{},
		ambient:  map[string]Event{},
		stopped:  make(chan struct{}),
	}
	go q.work(ctx)
	return q
}

// Submit adds a job with the given ID and request to the back of the queue.
func (q *Queue) Submit(id string, request any) (*Job, error) {
	j := &Job{ID: id, Request: request, state: StateQueued, done: make(chan struct{})}
	q.mu.Lock()
	err := q.admit(id)
	q.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if q.opts.Accept != nil {
		if err := q.opts.Accept(j); err != nil {
			return nil, err
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.admit(id); err != nil {
		// Refused after the owner accepted it (the queue filled or shut
		// down meanwhile): the owner hears that it ended.
		if q.opts.Ended != nil {
			q.opts.Ended(j, StateFailed, err)
		}
		return nil, err
	}
	q.jobs[id] = j
	q.pending = append(q.pending, j)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return j, nil
}

// admit says whether a job with id may be queued now; q.mu is held.
func (q *Queue) admit(id string) error {
	if q.closed {
		return errors.New("the run queue is shut down")
	}
	if len(q.pending) >= q.opts.MaxQueued {
		return fmt.Errorf("%w (%d waiting); try again when some have finished", ErrFull, len(q.pending))
	}
	if _, dup := q.jobs[id]; dup {
		return fmt.Errorf("job %s already exists", id)
	}
	return nil
}

// Status reports a job's state and, while it waits, its position: 1 means
// it runs next.
func (q *Queue) Status(id string) (state State, position int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j, ok := q.jobs[id]
	if !ok {
		return "", 0, ErrNotFound
	}
	for i, p := range q.pending {
		if p == j {
			return StateQueued, i + 1, nil
		}
	}
	return j.State(), 0, nil
}

// Len returns the number of jobs waiting (not counting the running one).
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// Active returns the running job's ID, or "".
func (q *Queue) Active() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running == nil {
		return ""
	}
	return q.running.ID
}

// Cancel stops a queued job before it starts, or a running one through its
// context. It reports ErrNotFound for unknown jobs and does nothing for
// finished ones.
func (q *Queue) Cancel(id string) error {
	q.mu.Lock()
	j, ok := q.jobs[id]
	if !ok {
		q.mu.Unlock()
		return ErrNotFound
	}
	for i, p := range q.pending {
		if p == j {
			q.pending = append(q.pending[:i], q.pending[i+1:]...)
			q.mu.Unlock()
			q.finish(j, nil, context.Canceled)
			return nil
		}
	}
	q.mu.Unlock()

	j.mu.Lock()
	j.canceled = true
	cancel := j.cancel
	j.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return nil
}

// Wait blocks until the job finishes or ctx ends, and returns its result.
func (q *Queue) Wait(ctx context.Context, id string) (any, error) {
	q.mu.Lock()
	j, ok := q.jobs[id]
	q.mu.Unlock()
	if !ok {
		return nil, ErrNotFound
	}
	select {
	case <-j.done:
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.result, j.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (q *Queue) work(ctx context.Context) {
	defer close(q.stopped)
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.mu.Unlock()
			select {
			case <-q.wake:
				continue
			case <-ctx.Done():
				q.shutdown()
				return
			}
		}
		j := q.pending[0]
		q.pending = q.pending[1:]
		q.running = j
		clear(q.snapshot)
		q.mu.Unlock()

		jobCtx, cancel := context.WithCancel(ctx)
		j.mu.Lock()
		j.state = StateRunning
		j.cancel = cancel
		alreadyCanceled := j.canceled
		j.mu.Unlock()
		if alreadyCanceled {
			cancel()
		}
		q.publish(Event{JobID: j.ID, Type: "started"})
		result, err := q.run(jobCtx, j)
		cancel()
		q.finish(j, result, err)

		q.mu.Lock()
		q.running = nil
		q.mu.Unlock()
	}
}

// run calls the executor, turning a panic into an error so one bad job
// cannot take the server down.
func (q *Queue) run(ctx context.Context, j *Job) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("job %s panicked: %v", j.ID, p)
		}
	}()
	return q.exec(ctx, j, q.publish)
}

func (q *Queue) finish(j *Job, result any, err error) {
	state := StateDone
	switch {
	case errors.Is(err, context.Canceled):
		state = StateCancelled
	case err != nil:
		state = StateFailed
	}
	if q.opts.Ended != nil {
		q.opts.Ended(j, state, err)
	}
	j.mu.Lock()
	j.state, j.result, j.err = state, result, err
	j.mu.Unlock()

	// The executor's result (a run summary) rides along, so live clients
	// need no second request to show it.
	data := map[string]any{"state": state}
	if err != nil {
		data["error"] = err.Error()
	}
	if result != nil {
		data["summary"] = result
	}
	q.publish(Event{JobID: j.ID, Type: "finished", Data: data})
	// Waiters wake only now: one that subscribes as soon as Wait returns
	// finds "finished" already in the replay, not arriving after it.
	close(j.done)

	q.mu.Lock()
	defer q.mu.Unlock()
	q.finished = append(q.finished, j.ID)
	for len(q.finished) > q.opts.Keep {
		delete(q.jobs, q.finished[0])
		q.finished = q.finished[1:]
	}
}

func (q *Queue) shutdown() {
	q.mu.Lock()
	q.closed = true
	pending := q.pending
	q.pending = nil
	q.mu.Unlock()
	for _, j := range pending {
		q.finish(j, nil, ErrShutdown)
	}
	q.mu.Lock()
	for s := range q.subs {
		s.close()
	}
	q.mu.Unlock()
}

// Stopped is closed once the worker has exited after its context ended.
func (q *Queue) Stopped() <-chan struct{} { return q.stopped }

// Subscription is one live listener. It is down-sampled, not blocked: when
// it falls SubscriberBuffer events behind, frequent events (tokens, power
// samples, heatmaps, current-operation updates) are skipped for it, while
// lifecycle events (started, phase, finished, …) are still queued. Only a
// subscriber that falls four times that far behind is dropped.
type Subscription struct {
	mu      sync.Mutex
	buf     []Event
	signal  chan struct{}
	closed  bool
	dropped bool
	skipped int
	soft    int
}

// Next waits for the next event. ok is false once the subscription is closed
// (and drained) or ctx ends.
func (s *Subscription) Next(ctx context.Context) (ev Event, ok bool) {
	for {
		s.mu.Lock()
		if len(s.buf) > 0 {
			ev = s.buf[0]
			s.buf[0] = Event{}
			s.buf = s.buf[1:]
			s.mu.Unlock()
			return ev, true
		}
		if s.closed {
			s.mu.Unlock()
			return Event{}, false
		}
		s.mu.Unlock()
		select {
		case <-s.signal:
		case <-ctx.Done():
			return Event{}, false
		}
	}
}

// Dropped reports whether the subscription was closed for falling too far
// behind; Skipped counts the frequent events it was spared.
func (s *Subscription) Dropped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Skipped counts the frequent events skipped because the subscriber lagged.
func (s *Subscription) Skipped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skipped
}

func (s *Subscription) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wake()
}

func (s *Subscription) wake() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// frequent are the event types a lagging subscriber may miss: each is
// superseded by the next of its kind.
func frequent(typ string) bool {
	switch typ {
	case "token", "power", "heatmap", "op":
		return true
	}
	return false
}

// offer queues ev for the subscriber and reports false when the subscriber
// must be dropped.
func (s *Subscription) offer(ev Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if len(s.buf) >= s.soft && frequent(ev.Type) {
		s.skipped++
		return true
	}
	if len(s.buf) >= 4*s.soft {
		s.dropped = true
		s.closed = true
		return false
	}
	s.buf = append(s.buf, ev)
	return true
}

// Subscribe returns a live subscription. The first events replay the
// running job's latest event of each type (so a late joiner sees the current
// phase, the last power sample and so on) followed by a "queue" event.
func (q *Queue) Subscribe() *Subscription {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := &Subscription{signal: make(chan struct{}, 1), soft: q.opts.SubscriberBuffer}
	if q.closed {
		s.closed = true
		return s
	}
	for _, typ := range snapshotOrder(q.ambient) {
		s.buf = append(s.buf, q.ambient[typ])
	}
	for _, typ := range snapshotOrder(q.snapshot) {
		s.buf = append(s.buf, q.snapshot[typ])
	}
	active := ""
	if q.running != nil {
		active = q.running.ID
	}
	s.buf = append(s.buf, Event{Type: "queue", Data: map[string]any{"active": active, "queued": len(q.pending)}})
	q.subs[s] = struct{}{}
	return s
}

// snapshotOrder lists the snapshot's event types in the order a live run
// produced them: the run and its start, its phase, the latest frequent
// events, and its end last, so a late joiner's view ends in the right state.
func snapshotOrder(snap map[string]Event) []string {
	rank := func(typ string) int {
		switch {
		case typ == "run":
			return 0
		case typ == "started":
			return 1
		case typ == "finished":
			return 4
		case frequent(typ):
			return 3
		}
		return 2
	}
	var types []string
	for typ := range snap {
		types = append(types, typ)
	}
	sort.Slice(types, func(i, j int) bool {
		ri, rj := rank(types[i]), rank(types[j])
		if ri != rj {
			return ri < rj
		}
		return types[i] < types[j]
	})
	return types
}

// Unsubscribe stops delivery and closes the subscription.
func (q *Queue) Unsubscribe(s *Subscription) {
	q.mu.Lock()
	delete(q.subs, s)
	q.mu.Unlock()
	s.close()
}

// Broadcast sends an event that belongs to no job (the machine's power
// between runs, say) to every subscriber; late joiners get the latest of
// each type.
func (q *Queue) Broadcast(typ string, data any) {
	q.mu.Lock()
	q.ambient[typ] = Event{Type: typ, Data: data}
	q.mu.Unlock()
	q.publish(Event{Type: typ, Data: data})
}

// publish fans an event out without ever blocking on a subscriber.
func (q *Queue) publish(ev Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running != nil && ev.JobID != "" && ev.JobID == q.running.ID {
		q.snapshot[ev.Type] = ev
	}
	for s := range q.subs {
		if !s.offer(ev) {
			delete(q.subs, s)
		}
		s.wake()
	}
}
