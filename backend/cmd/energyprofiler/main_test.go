package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"energyprofiler/backend/demo"
	"energyprofiler/backend/model"
	"energyprofiler/backend/tokenizer"
)

// The test binary doubles as the real command: with EP_RUN_MAIN=1 it runs
// main, signal handling included, so the tests below can signal it.
func TestMain(m *testing.M) {
	if os.Getenv("EP_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// command starts the binary as energyprofiler with args.
func command(t *testing.T, home string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	return commandOf(t, os.Args[0], home, args...)
}

// commandOf starts exe (this test binary, or one from shippedBinary) as
// energyprofiler with args.
func commandOf(t *testing.T, exe, home string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "EP_RUN_MAIN=1", "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// waitExit waits at most limit for the process to end.
func waitExit(cmd *exec.Cmd, limit time.Duration) (exited bool) {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		return false
	}
}

func tinyModel(t *testing.T, name string, hidden, layers int) string {
	t.Helper()
	dir, err := demo.WriteSpec(t.TempDir(), demo.Spec{Name: name, Hidden: hidden, Intermediate: 2 * hidden, Layers: layers, Heads: 4, KVHead: 2,
		Vocab: tokenizer.DemoVocabSize(demo.TokenizerMerges) + 8, Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// poisonFinalNorm overwrites model.norm.weight with BF16 NaNs in place.
func poisonFinalNorm(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "model.safetensors")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := model.ParseHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range h.Tensors {
		if ti.Name == model.FinalNormName {
			for off := h.DataStart + ti.Begin; off < h.DataStart+ti.End; off += 2 {
				binary.LittleEndian.PutUint16(data[off:], 0x7fc0) // BF16 quiet NaN
			}
		}
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Issue 12 item 3: a model with NaN weights sampled with temperature/top-p
// hung `profile` forever, and SIGTERM could not stop it. Now the run fails
// at once, naming the model, and is stored as failed.
func TestProfileOfNaNModelEndsAndIsStored(t *testing.T) {
	home := t.TempDir()
	dir := tinyModel(t, "nan", 64, 2)
	poisonFinalNorm(t, dir)
	db := filepath.Join(home, "runs.db")
	cmd, out := command(t, home, "profile", "--model", dir, "--prompt", "hello", "--max-tokens", "8", "--idle", "0",
		"--temperature", "0.8", "--top-p", "0.9", "--top-k", "40", "--power", "cpu-load", "--db", db)
	time.Sleep(3 * time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	if !waitExit(cmd, time.Second) {
		t.Fatalf("profile of a NaN model neither ended nor stopped within 1 s of SIGTERM; output:\n%s", out)
	}
	if !strings.Contains(out.String(), "non-finite") || !strings.Contains(out.String(), dir) {
		t.Errorf("output does not explain the failure:\n%s", out)
	}
	runs := storedRuns(t, home, db)
	if len(runs) != 1 || runs[0].Status != "failed" {
		t.Errorf("stored runs %+v, want one failed run", runs)
	}
}

type runRow struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func storedRuns(t *testing.T, home, db string) []runRow {
	t.Helper()
	cmd, out := command(t, home, "runs", "--json", "--db", db)
	if !waitExit(cmd, 20*time.Second) || cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("runs --json: %s", out)
	}
	var page struct{ Runs []runRow }
	if err := json.Unmarshal(out.Bytes(), &page); err != nil {
		t.Fatalf("runs --json: %v\n%s", err, out)
	}
	return page.Runs
}

// shippedBinary is the command as shipped, for the tests that time it: this
// test binary itself, or under -race (which makes storing a run's rows in
// SQLite some twenty times slower than the real command) the command built
// without the detector.
func shippedBinary(t *testing.T) string {
	t.Helper()
	if !raceDetector {
		return os.Args[0]
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "energyprofiler")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// tryStoredRuns is storedRuns for polling: false where the list fails.
func tryStoredRuns(home, db string) ([]runRow, bool) {
	cmd := exec.Command(os.Args[0], "runs", "--json", "--db", db)
	cmd.Env = append(os.Environ(), "EP_RUN_MAIN=1", "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"))
	out, err := cmd.Output()
	if err != nil {
		return nil, false
	}
	var page struct{ Runs []runRow }
	if json.Unmarshal(out, &page) != nil {
		return nil, false
	}
	return page.Runs, true
}

// SIGTERM in the middle of a long run stops the CLI within a second, and
// the run is stored as cancelled.
//
// The command timed is the shipped one (under -race, built without the
// detector: see shippedBinary), and the signal goes half a second after the
// run is stored as running (it is generating then: --idle 0), not after a
// fixed 3 s: the cancelled run's record (75 component rows a token) must be
// stored within the grace, and the race-instrumented SQLite writing 3 s of
// tokens on a loaded machine did not, leaving the run "running" (to be
// marked interrupted). That remains what happens to a run whose record
// cannot be stored within the grace.
func TestProfileStopsWithinASecondOfSIGTERM(t *testing.T) {
	home := t.TempDir()
	exe := shippedBinary(t)
	dir := tinyModel(t, "long", 512, 8) // several ms per token: 4000 tokens take far longer than the test
	db := filepath.Join(home, "runs.db")
	cmd, out := commandOf(t, exe, home, "profile", "--model", dir, "--prompt", "hello", "--max-tokens", "4000", "--ignore-eos",
		"--idle", "0", "--power", "cpu-load", "--db", db)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		// While profile creates the database, reading it may fail (no
		// database yet, its schema half made): try again.
		if runs, ok := tryStoredRuns(home, db); ok && len(runs) == 1 && runs[0].Status == "running" {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the run was not stored as running within 30 s; output:\n%s", out)
		}
	}
	time.Sleep(500 * time.Millisecond)
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if !waitExit(cmd, 5*time.Second) {
		t.Fatalf("profile did not stop within 5 s of SIGTERM; output:\n%s", out)
	}
	if d := time.Since(sent); d > time.Second {
		t.Errorf("profile took %v to stop after SIGTERM, want at most 1 s", d)
	}
	runs := storedRuns(t, home, db)
	if len(runs) != 1 || runs[0].Status != "cancelled" {
		t.Errorf("stored runs %+v, want one cancelled run; output:\n%s", runs, out)
	}
}

// Whatever a command is doing, the process ends within a second of SIGTERM.
func TestStuckCommandStillStopsWithinASecond(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStuckCommand$")
	cmd.Env = append(os.Environ(), "EP_STUCK=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if !waitExit(cmd, 5*time.Second) {
		t.Fatalf("a command that ignores cancellation kept the process alive; output:\n%s", out.String())
	}
	if d := time.Since(sent); d > time.Second {
		t.Errorf("exit took %v after SIGTERM", d)
	}
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Errorf("exit code %d, want 143 (SIGTERM)", code)
	}
}

// TestHelperStuckCommand is the child of the test above: a command that
// never looks at its context.
func TestHelperStuckCommand(t *testing.T) {
	if os.Getenv("EP_STUCK") != "1" {
		t.Skip("helper process")
	}
	runWithSignals(stopGrace, func(context.Context) int { select {} })
}

// measure through the real process and its signal handling: an interrupt
// sent to energyprofiler alone is passed on to the command (after a
// second), and Ctrl-C in a terminal, which reaches the whole process
// group, lets the command clean up; either way the command's exit code
// comes back and the window is stored as cancelled.
func TestMeasureForwardsCtrlCAndPassesTheExitCode(t *testing.T) {
	for _, c := range []struct {
		name  string
		group bool // signal the process group, as a terminal's Ctrl-C does
		code  int
	}{
		{"to energyprofiler alone", false, 42},
		{"to the process group", true, 43},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			db := filepath.Join(home, "runs.db")
			ready := filepath.Join(home, "ready")
			script := fmt.Sprintf(`trap 'kill $!; exit %d' INT; : > %s; sleep 30 & wait`, c.code, ready)
			cmd := exec.Command(os.Args[0], "measure", "--idle", "0", "--power", "cpu-load", "--db", db, "--", "sh", "-c", script)
			cmd.Env = append(os.Environ(), "EP_RUN_MAIN=1", "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"))
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group: the signal below does not reach this test
			// A file, not a buffer: Wait then does not wait for whatever
			// else holds the output open.
			outFile, err := os.Create(filepath.Join(home, "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer outFile.Close()
			cmd.Stdout, cmd.Stderr = outFile, outFile
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			out := outputOf(outFile.Name())
			deadline := time.Now().Add(20 * time.Second)
			for {
				if _, err := os.Stat(ready); err == nil {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("the measured command never started; output:\n%s", out())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if c.group {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			} else {
				cmd.Process.Signal(syscall.SIGINT)
			}
			if !waitExit(cmd, 10*time.Second) {
				t.Fatalf("measure did not stop; output:\n%s", out())
			}
			if code := cmd.ProcessState.ExitCode(); code != c.code {
				t.Errorf("exit code %d, want the command's %d; output:\n%s", code, c.code, out())
			}
			runs := storedRuns(t, home, db)
			if len(runs) != 1 || runs[0].Status != "cancelled" {
				t.Errorf("stored runs %+v, want one cancelled window", runs)
			}
		})
	}
}

func outputOf(path string) func() string {
	return func() string {
		b, _ := os.ReadFile(path)
		return string(b)
	}
}
