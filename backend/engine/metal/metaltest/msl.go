package metaltest

import (
	"bufio"
	"crypto/sha256"
	embedpkg "embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"energyprofiler/backend/engine/metal"
)

// The MSL runner: kernels.metal compiled for this CPU by clang++ against
// the stand-in metal_stdlib (msl/runner.cpp says how threads, SIMD-group
// functions and threadgroup memory are emulated). A Fake made by NewMSL
// sends each dispatch to it, so the MSL source itself runs, not the Go
// semantics in kernels.go: its indexing, block decoding, reductions and
// synchronisation are exercised on machines without a GPU. What it cannot
// show is the Metal compiler's view (address spaces, attributes, Metal-only
// rules) and the GPU's float rounding; `energyprofiler doctor --selftest`
// covers those on a Mac.

//go:embed msl/runner.cpp msl/metal_stdlib
var mslFiles embedpkg.FS

// ErrNoCompiler is returned (wrapped) by NewMSL where clang++ is missing.
var ErrNoCompiler = errors.New("clang++ not found (apt-get install clang)")

// threadgroupDecl matches a threadgroup-memory declaration inside a kernel
// body (indented, at the start of a statement), not a parameter's address
// space: the runner makes those variables static, shared by the fibers of
// the one threadgroup it runs at a time.
var threadgroupDecl = regexp.MustCompile(`(?m)^(\s+)threadgroup `)

// buildMSL compiles source once per source text: the binary is kept under
// the OS temp folder, named by a hash of what it was built from.
func buildMSL(source string) (string, error) {
	runner, _ := mslFiles.ReadFile("msl/runner.cpp")
	shim, _ := mslFiles.ReadFile("msl/metal_stdlib")
	kernels := threadgroupDecl.ReplaceAllString(source, "${1}static ")
	h := sha256.New()
	for _, b := range [][]byte{runner, shim, []byte(kernels)} {
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]

	// The binary is kept for later runs; each build works in a folder of
	// its own and renames its result into place, so tests building at the
	// same time cannot see each other's half-written files.
	bin := filepath.Join(os.TempDir(), "energyprofiler-msl-runner-"+key)
	if _, err := os.Stat(bin); err != nil {
		clang, err := exec.LookPath("clang++")
		if err != nil {
			return "", ErrNoCompiler
		}
		dir, err := os.MkdirTemp("", "energyprofiler-msl-build-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(dir)
		for name, b := range map[string][]byte{"runner.cpp": runner, "metal_stdlib": shim, "kernels.metal": []byte(kernels)} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				return "", err
			}
		}
		out := filepath.Join(dir, "runner")
		cmd := exec.Command(clang, "-std=c++14", "-O1", "-fsigned-char", "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=0",
			"-Wno-unknown-attributes", "-I", dir, "-o", out, filepath.Join(dir, "runner.cpp"))
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("compile the MSL runner: %v\n%s", err, msg)
		}
		if err := os.Rename(out, bin); err != nil {
			return "", err
		}
	}
	return bin, nil
}

// mslRunner is one running runner process.
type mslRunner struct {
	cmd  *exec.Cmd
	in   *bufio.Writer
	out  *bufio.Reader
	pipe io.WriteCloser
	dead error
}

func startMSL(source string) (*mslRunner, error) {
	bin, err := buildMSL(source)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &mslRunner{cmd: cmd, in: bufio.NewWriterSize(stdin, 1<<20), out: bufio.NewReaderSize(stdout, 1<<20), pipe: stdin}, nil
}

func (r *mslRunner) close() {
	r.pipe.Close()
	r.cmd.Wait()
}

// NewMSL returns a Fake that runs kernels.metal's source itself: each
// dispatch goes to the kernels compiled for this CPU (see above), after
// the same checks as the Go semantics get. It needs clang++; without it
// the error wraps ErrNoCompiler. Close stops the runner.
func NewMSL() (*Fake, error) {
	r, err := startMSL(metal.Source)
	if err != nil {
		return nil, fmt.Errorf("metaltest: %w", err)
	}
	f := New()
	f.msl = r
	return f, nil
}

// runMSL sends one dispatch to the runner: each distinct buffer it binds
// once (so aliased bindings stay aliased), and copies the writable ones
// (every buffer but wrapped weights) back.
func (f *Fake) runMSL(name string, d metal.Dispatch) error {
	r := f.msl
	if r.dead != nil {
		return r.dead
	}
	type bound struct {
		mem      []byte
		writable bool
	}
	var bufs []bound
	index := map[metal.BufferID]int{}
	type binding struct {
		buf int
		off int
	}
	binds := make([]binding, len(d.Buffers))
	for i, b := range d.Buffers {
		buf := f.bufs[b.Buf] // checked by view
		j, ok := index[b.Buf]
		if !ok {
			j = len(bufs)
			index[b.Buf] = j
			bufs = append(bufs, bound{mem: buf.mem, writable: !buf.wrapped})
		}
		off := b.Off
		if buf.wrapped {
			off -= buf.wrapOff
		}
		binds[i] = binding{j, off}
	}

	w := r.in
	put32 := func(v uint32) { binary.Write(w, binary.LittleEndian, v) }
	put64 := func(v uint64) { binary.Write(w, binary.LittleEndian, v) }
	put32(uint32(len(name)))
	w.WriteString(name)
	put32(uint32(len(d.Args)))
	w.Write(d.Args)
	for _, g := range d.Groups {
		put32(uint32(g))
	}
	for _, t := range d.Threads {
		put32(uint32(t))
	}
	put32(uint32(len(bufs)))
	for _, b := range bufs {
		put64(uint64(len(b.mem)))
		wb := byte(0)
		if b.writable {
			wb = 1
		}
		w.WriteByte(wb)
		w.Write(b.mem)
	}
	put32(uint32(len(binds)))
	for _, b := range binds {
		put32(uint32(b.buf))
		put64(uint64(b.off))
	}
	if err := w.Flush(); err != nil {
		r.dead = fmt.Errorf("MSL runner: %w", err)
		return r.dead
	}

	var n uint32
	if err := binary.Read(r.out, binary.LittleEndian, &n); err != nil {
		r.dead = fmt.Errorf("MSL runner died during %s (a fault in the kernel?): %w", name, err)
		return r.dead
	}
	if n != 0 {
		msg := make([]byte, n)
		io.ReadFull(r.out, msg)
		err := fmt.Errorf("MSL runner: %s", msg)
		if strings.HasPrefix(string(msg), "deadlock") {
			r.dead = err
		}
		return err
	}
	for _, b := range bufs {
		if !b.writable {
			continue
		}
		if _, err := io.ReadFull(r.out, b.mem); err != nil {
			r.dead = fmt.Errorf("MSL runner: %w", err)
			return r.dead
		}
	}
	return nil
}
