package power

// The powermetrics source (macOS). powermetrics needs root; it is run
// either by the privileged helper (PowermetricsOptions.Helper, built in
// backend/helper) or with `sudo -n` and a pinned argv, so a sudoers rule
// can allow exactly this command. Never with -o: a root-written output file
// in a predictable place is a symlink attack (apple-power.md, section a).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"energyprofiler/backend/helper"
)

// PowermetricsHelper is the privileged helper's client, as this package
// needs it: it reports whether the helper is installed and streams the raw
// `powermetrics -f plist` output (NUL-separated documents).
type PowermetricsHelper interface {
	Availability() Availability
	Stream(ctx context.Context, intervalMs int) (io.ReadCloser, error)
}

// PowermetricsOptions configures the powermetrics source.
type PowermetricsOptions struct {
	// IntervalMs is powermetrics' -i (default 1000). With sudo it is part
	// of the pinned argv, so the sudoers rule must name the same value.
	IntervalMs int
	// Helper, when set, is used instead of sudo.
	Helper PowermetricsHelper
	// Binary and Sudo are absolute paths (defaults /usr/bin/powermetrics,
	// /usr/bin/sudo).
	Binary string
	Sudo   string
}

func (o PowermetricsOptions) withDefaults() PowermetricsOptions {
	if o.IntervalMs <= 0 {
		o.IntervalMs = 1000
	}
	if o.Binary == "" {
		o.Binary = "/usr/bin/powermetrics"
	}
	if o.Sudo == "" {
		o.Sudo = "/usr/bin/sudo"
	}
	return o
}

// PowermetricsArgs is the pinned argv (after the binary): plist to stdout,
// line-buffered, CPU/GPU/ANE power. No -o, ever.
func PowermetricsArgs(intervalMs int) []string {
	// The same argv as the privileged helper's, so one sudoers rule and one
	// documented command cover both ways of running powermetrics.
	return helper.Argv(uint32(max(intervalMs, 0)))
}

// PowermetricsSudoersLine is the sudoers rule that allows exactly the
// pinned command for user.
func PowermetricsSudoersLine(userName string, o PowermetricsOptions) string {
	o = o.withDefaults()
	line, err := helper.SudoersRule(userName, uint32(max(o.IntervalMs, 0)))
	if err != nil {
		// Not a plain user name: show the shape with a placeholder.
		line, _ = helper.SudoersRule("USER", uint32(max(o.IntervalMs, 0)))
	}
	return line
}

// Powermetrics is the powermetrics source.
type Powermetrics struct {
	opts Options

	once  sync.Once
	avail Availability
}

// NewPowermetrics returns the powermetrics source.
func NewPowermetrics(opts Options) *Powermetrics {
	return &Powermetrics{opts: opts.withDefaults()}
}

func (p *Powermetrics) Name() string { return "powermetrics" }
func (p *Powermetrics) Kind() Kind   { return KindSampling }
func (p *Powermetrics) Description() string {
	how := "sudo -n " + p.opts.Powermetrics.Binary + " " + strings.Join(PowermetricsArgs(p.opts.Powermetrics.IntervalMs), " ")
	if p.opts.Powermetrics.Helper != nil {
		how = "the privileged helper"
	}
	return "measured: Apple powermetrics processor.cpu_power/gpu_power/ane_power/combined_power (mW) over elapsed_ns, via " + how + "; DRAM only on macOS 12"
}
func (p *Powermetrics) Domains() []Domain {
	return []Domain{DomainCPU, DomainGPU, DomainANE, DomainDRAM, DomainPackage}
}

func (p *Powermetrics) Availability() Availability {
	p.once.Do(func() { p.avail = p.probe() })
	return p.avail
}

func (p *Powermetrics) probe() Availability {
	o := p.opts.Powermetrics
	if runtime.GOOS != "darwin" {
		return unavailable("powermetrics is a macOS tool; this is "+runtime.GOOS, "none on this OS")
	}
	if o.Helper != nil {
		return o.Helper.Availability()
	}
	if _, err := os.Stat(o.Binary); err != nil {
		return unavailable("no "+o.Binary+": "+err.Error(), "none: powermetrics ships with macOS 11 and later")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// sudo -n -l CMD ARGS exits 0 only if sudo would run exactly this
	// command without asking for a password.
	args := append([]string{"-n", "-l", o.Binary}, PowermetricsArgs(o.IntervalMs)...)
	if err := exec.CommandContext(ctx, o.Sudo, args...).Run(); err != nil {
		name := "$USER"
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		return unavailable("powermetrics needs root and 'sudo -n' may not run the pinned command without a password",
			"install the privileged helper ('energyprofiler helper install'), or allow exactly this command with 'sudo visudo -f /etc/sudoers.d/energyprofiler' and the line: "+
				PowermetricsSudoersLine(name, o))
	}
	return available()
}

func (p *Powermetrics) Open(ctx context.Context) (Reader, error) {
	if a := p.Availability(); !a.Available {
		return nil, unavailableError(p.Name(), a)
	}
	o := p.opts.Powermetrics
	if o.Helper != nil {
		rc, err := o.Helper.Stream(ctx, o.IntervalMs)
		if err != nil {
			return nil, fmt.Errorf("powermetrics via helper: %w", err)
		}
		return newPowermetricsReader(rc, p.opts.Now, p.Name(), rc.Close), nil
	}
	args := append([]string{"-n", o.Binary}, PowermetricsArgs(o.IntervalMs)...)
	cmd := exec.Command(o.Sudo, args...)
	cmd.Env = []string{} // nothing from our environment reaches a root process
	var stderr tailBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("powermetrics: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s %s: %w", o.Sudo, strings.Join(args, " "), err)
	}
	var once sync.Once
	stop := func() error {
		once.Do(func() { stopSudo(cmd, func() { stdout.Close() }, sudoStopGrace) })
		return nil
	}
	r := newPowermetricsReader(stdout, p.opts.Now, p.Name(), stop)
	r.exitInfo = func() string {
		if s := strings.TrimSpace(stderr.String()); s != "" {
			return "powermetrics said: " + s
		}
		return ""
	}
	return r, nil
}

// sudoStopGrace is how long powermetrics gets to exit after SIGTERM.
const sudoStopGrace = 2 * time.Second

// stopSudo ends a started `sudo powermetrics`. sudo relays SIGTERM to the
// root powermetrics, but nothing relays SIGKILL: killing sudo outright left
// a root powermetrics running with nobody reading it. So SIGTERM first,
// closing our end of the output (a write to it then fails, which ends
// powermetrics too), and SIGKILL only if it has not exited within grace.
func stopSudo(cmd *exec.Cmd, closeOutput func(), grace time.Duration) {
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		cmd.Process.Kill() // no signals here (Windows): nothing else to try
	}
	closeOutput()
	select {
	case <-exited:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-exited
	}
}

// NewPowermetricsReader reads a raw `powermetrics -f plist` stream (from
// the helper's socket, a pipe or a file) and returns one sample per
// document, stamped with now() at receipt (T0 = T1 − elapsed_ns). Read
// blocks until the next document; Close closes r when it is an io.Closer.
func NewPowermetricsReader(r io.Reader, now func() int64) Reader {
	if now == nil {
		now = Options{}.withDefaults().Now
	}
	var closeFn func() error
	if c, ok := r.(io.Closer); ok {
		closeFn = c.Close
	}
	return newPowermetricsReader(r, now, "powermetrics", closeFn)
}

// NewPowermetricsFromStream wraps an already open powermetrics plist stream
// as a Source that can be opened once (for the helper client and tests).
func NewPowermetricsFromStream(r io.Reader, opts Options) Source {
	return &streamSource{r: r, opts: opts.withDefaults()}
}

type streamSource struct {
	r      io.Reader
	opts   Options
	mu     sync.Mutex
	opened bool
}

func (s *streamSource) Name() string { return "powermetrics" }
func (s *streamSource) Kind() Kind   { return KindSampling }
func (s *streamSource) Description() string {
	return "measured: Apple powermetrics plist stream (mW over elapsed_ns)"
}
func (s *streamSource) Domains() []Domain {
	return []Domain{DomainCPU, DomainGPU, DomainANE, DomainDRAM, DomainPackage}
}
func (s *streamSource) Availability() Availability { return available() }
func (s *streamSource) Open(ctx context.Context) (Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened {
		return nil, fmt.Errorf("powermetrics stream: already opened (a stream can be read once)")
	}
	s.opened = true
	return NewPowermetricsReader(s.r, s.opts.Now), nil
}

type pmResult struct {
	smp Sample
	err error
}

type powermetricsReader struct {
	name     string
	results  chan pmResult
	closeFn  func() error
	once     sync.Once
	exitInfo func() string
}

func newPowermetricsReader(r io.Reader, now func() int64, name string, closeFn func() error) *powermetricsReader {
	pr := &powermetricsReader{name: name, results: make(chan pmResult, 64), closeFn: closeFn}
	go pr.pump(r, now)
	return pr
}

// pump parses the stream on its own goroutine, so samples are stamped when
// they arrive, not when Read is called.
func (pr *powermetricsReader) pump(r io.Reader, now func() int64) {
	defer close(pr.results)
	var parser PlistParser
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			recs, perr := parser.Write(buf[:n])
			t := now()
			for _, rec := range recs {
				pr.results <- pmResult{smp: rec.Sample(t, pr.name)}
			}
			if perr != nil {
				pr.results <- pmResult{err: perr}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
				err = io.EOF
			}
			pr.results <- pmResult{err: err}
			return
		}
	}
}

func (pr *powermetricsReader) Paced() {}

func (pr *powermetricsReader) Read() (Sample, error) {
	res, ok := <-pr.results
	if !ok {
		return Sample{}, io.EOF
	}
	if res.err != nil && pr.exitInfo != nil && errors.Is(res.err, io.EOF) {
		if info := pr.exitInfo(); info != "" {
			return Sample{}, fmt.Errorf("powermetrics stream ended (%s): %w", info, io.EOF)
		}
	}
	return res.smp, res.err
}

func (pr *powermetricsReader) Close() error {
	var err error
	pr.once.Do(func() {
		if pr.closeFn != nil {
			err = pr.closeFn()
		}
		// Let the pump finish if it is blocked handing over results.
		go func() {
			for range pr.results {
			}
		}()
	})
	return err
}

// tailBuffer keeps the last 4 KiB written to it (a child's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(b)
	if t.buf.Len() > 4096 {
		keep := t.buf.Bytes()[t.buf.Len()-4096:]
		t.buf = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
