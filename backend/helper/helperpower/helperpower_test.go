package helperpower

import (
	"context"
	_ "embed"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/helper"
	"energyprofiler/backend/power"
)

//go:embed testdata/m1-plist-1.plist
var fixture []byte

// TestMain doubles as a fake powermetrics: the helper server execs this test
// binary with powermetrics' argv.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-f" {
		if !slices.Equal(os.Args[1:], helper.Argv(100)) {
			os.Exit(64)
		}
		for i := 0; ; i++ {
			if i > 0 {
				os.Stdout.Write([]byte{0})
			}
			os.Stdout.Write(fixture)
			time.Sleep(100 * time.Millisecond)
		}
	}
	os.Exit(m.Run())
}

func serve(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "h.sock")
	ln, err := helper.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	s := &helper.Server{Powermetrics: exe, Allow: func(uid uint32) bool { return uid == uint32(os.Getuid()) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return sock
}

// The helper's stream, read by the power package's powermetrics reader,
// gives samples with the fixture's measured watts.
func TestStreamIntoPowerReader(t *testing.T) {
	h := New(serve(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := h.Stream(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	r := power.NewPowermetricsReader(rc, func() int64 { return 5e9 })
	defer r.Close()
	for i := range 2 {
		s, err := r.Read()
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		cpu, gpu := s.Domains[power.DomainCPU], s.Domains[power.DomainGPU]
		if !cpu.HasPower || math.Abs(cpu.PowerMW-44.0773) > 1e-6 || math.Abs(gpu.PowerMW-15.3528) > 1e-6 {
			t.Errorf("sample %d: cpu %+v gpu %+v, want 44.0773 and 15.3528 mW", i, cpu, gpu)
		}
		if s.T1-s.T0 != 2019178750 {
			t.Errorf("sample %d spans %d ns, want elapsed_ns 2019178750", i, s.T1-s.T0)
		}
	}
}

func TestAvailability(t *testing.T) {
	a := New(filepath.Join(t.TempDir(), "missing.sock")).Availability()
	if a.Available || !strings.Contains(a.Fix, "helper install") {
		t.Errorf("missing helper: %+v", a)
	}
	a = New(serve(t)).Availability()
	// Available only when the helper runs as root (this test's server runs
	// as the test's user).
	if want := os.Getuid() == 0; a.Available != want {
		t.Errorf("running helper as uid %d: %+v, want available=%v", os.Getuid(), a, want)
	}
	if !a.Available && !strings.Contains(a.Reason, "not root") {
		t.Errorf("non-root helper reason: %q", a.Reason)
	}
}
