package power

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSource counts reads and fails when told to.
type fakeSource struct {
	name    string
	kind    Kind
	domains []Domain
	avail   Availability
	failAll bool         // every Read fails
	reads   atomic.Int64 // Reads so far
	paced   chan Sample  // when set, the reader is paced and reads from here
}

func (f *fakeSource) Name() string               { return f.name }
func (f *fakeSource) Kind() Kind                 { return f.kind }
func (f *fakeSource) Description() string        { return "fake" }
func (f *fakeSource) Domains() []Domain          { return f.domains }
func (f *fakeSource) Availability() Availability { return f.avail }
func (f *fakeSource) Open(ctx context.Context) (Reader, error) {
	if !f.avail.Available {
		return nil, unavailableError(f.name, f.avail)
	}
	if f.paced != nil {
		return &fakePaced{f: f, closed: make(chan struct{})}, nil
	}
	return &fakeReader{f: f}, nil
}

type fakeReader struct{ f *fakeSource }

func (r *fakeReader) Read() (Sample, error) {
	n := r.f.reads.Add(1)
	if r.f.failAll {
		return Sample{}, fmt.Errorf("read %d: device gone", n)
	}
	doms := map[Domain]Reading{}
	for _, d := range r.f.domains {
		doms[d] = Reading{PowerMW: float64(n), HasPower: true}
	}
	return Sample{T0: n - 1, T1: n, Source: r.f.name, Kind: r.f.kind, Domains: doms}, nil
}
func (r *fakeReader) Close() error { return nil }

type fakePaced struct {
	f      *fakeSource
	closed chan struct{}
	once   sync.Once
}

func (r *fakePaced) Paced() {}
func (r *fakePaced) Read() (Sample, error) {
	select {
	case s, ok := <-r.f.paced:
		if !ok {
			return Sample{}, io.EOF
		}
		return s, nil
	case <-r.closed:
		return Sample{}, io.EOF
	}
}
func (r *fakePaced) Close() error { r.once.Do(func() { close(r.closed) }); return nil }

func newFake(domains ...Domain) *fakeSource {
	return &fakeSource{name: "fake", kind: KindCounter, domains: domains, avail: available()}
}

func TestSamplerRingAndSubscribers(t *testing.T) {
	src := newFake(DomainCPU)
	s := NewSampler(src, SamplerOptions{Interval: time.Millisecond, BufferSize: 5})
	fast := s.Subscribe(1000)
	slow := s.Subscribe(1) // never read: must not stall the sampler
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []Sample
	for smp := range fast.C() {
		got = append(got, smp)
		if len(got) == 20 {
			break
		}
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("clean stop returned %v", err)
	}
	for i, smp := range got {
		if smp.T1 != int64(i+1) {
			t.Fatalf("fast subscriber missed or reordered samples: %d-th has T1 %d", i, smp.T1)
		}
	}
	if slow.Dropped() == 0 {
		t.Fatal("the slow subscriber dropped nothing, so it must have stalled the sampler")
	}
	if _, ok := <-fast.C(); ok {
		// drain whatever was buffered; the channel must end closed
		for range fast.C() {
		}
	}
	recent := s.Recent(0)
	if len(recent) != 5 {
		t.Fatalf("ring holds %d samples, want its size 5", len(recent))
	}
	total := s.Status().Samples
	for i, smp := range recent {
		if want := int64(total) - 4 + int64(i); smp.T1 != want {
			t.Fatalf("ring[%d].T1 = %d, want %d (newest last)", i, smp.T1, want)
		}
	}
	if got := s.Recent(2); len(got) != 2 || got[1].T1 != int64(total) {
		t.Fatalf("Recent(2) = %v", got)
	}
	if b := s.Between(int64(total)-2, int64(total)); len(b) != 2 {
		t.Fatalf("Between = %d samples, want 2", len(b))
	}
}

func TestSamplerDeadSource(t *testing.T) {
	src := newFake(DomainCPU)
	src.failAll = true
	s := NewSampler(src, SamplerOptions{Interval: time.Millisecond, MaxConsecutiveErrors: 3})
	sub := s.Subscribe(10)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("sampler kept running on a source that fails every read")
	}
	if _, ok := <-sub.C(); ok {
		t.Fatal("subscriber channel still open after the source died")
	}
	err := s.Err()
	if !errors.Is(err, ErrSourceDead) || !strings.Contains(err.Error(), "fake failed 3 reads in a row") || !strings.Contains(err.Error(), "device gone") {
		t.Fatalf("dead source error = %v", err)
	}
	if st := s.Status(); st.Running || st.Error == "" {
		t.Fatalf("status = %+v", st)
	}
	if !errors.Is(s.Stop(), ErrSourceDead) {
		t.Fatal("Stop hides the source's death")
	}
}

func TestSamplerPacedSource(t *testing.T) {
	src := newFake(DomainGPU)
	src.paced = make(chan Sample)
	s := NewSampler(src, SamplerOptions{Interval: time.Hour}) // the ticker must not be used
	sub := s.Subscribe(10)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	src.paced <- Sample{T0: 1, T1: 2, Domains: map[Domain]Reading{DomainGPU: {PowerMW: 5, HasPower: true}}}
	if smp := <-sub.C(); smp.T1 != 2 {
		t.Fatalf("paced sample = %+v", smp)
	}
	close(src.paced) // the stream ends
	<-s.Done()
	if !errors.Is(s.Err(), ErrSourceDead) || !strings.Contains(s.Err().Error(), "stream ended") {
		t.Fatalf("ended stream error = %v", s.Err())
	}
}

func TestSamplerStopUnblocksPacedRead(t *testing.T) {
	src := newFake(DomainGPU)
	src.paced = make(chan Sample) // never sends
	s := NewSampler(src, SamplerOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not unblock a paced Read")
	}
	if s.Err() != nil {
		t.Fatalf("cancel is a clean stop, got %v", s.Err())
	}
}

func TestSamplerDomainFilterAndOpenError(t *testing.T) {
	src := newFake(DomainCPU, DomainDRAM)
	s := NewSampler(src, SamplerOptions{Interval: time.Millisecond, Domains: []Domain{DomainDRAM}})
	sub := s.Subscribe(4)
	s.Start(context.Background())
	smp := <-sub.C()
	s.Stop()
	if _, ok := smp.Domains[DomainCPU]; ok || len(smp.Domains) != 1 {
		t.Fatalf("filtered sample has %v, want only dram", smp.Domains)
	}

	bad := newFake(DomainCPU)
	bad.avail = unavailable("no such device", "plug it in")
	err := NewSampler(bad, SamplerOptions{}).Start(context.Background())
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "plug it in") {
		t.Fatalf("start on an unavailable source: %v", err)
	}
}
