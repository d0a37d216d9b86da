package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"energyprofiler/backend/profiler"
)

const crashEnv = "ENERGYPROFILER_STORE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		if err := crashChild(path); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild is the writer process: it stores completed runs, starts one run
// it never finishes, then keeps storing large runs until it is killed.
func crashChild(path string) error {
	st, err := Open(path)
	if err != nil {
		return err
	}
	ctx := context.Background()
	save := func(i int, tokens int) error {
		rec, err := makeRecordErr(spec{model: "m", prompt: fmt.Sprintf("run %d", i), tokens: tokens, layers: 4, depth: "deep", watts: 9}, nil)
		if err != nil {
			return err
		}
		if err := st.Save(ctx, rec); err != nil {
			return err
		}
		fmt.Printf("saved %s %d\n", rec.Run.ID, len(rec.Components))
		return nil
	}
	for i := 0; i < 3; i++ {
		if err := save(i, 8); err != nil {
			return err
		}
	}
	run, err := startRun(spec{model: "m", prompt: "killed mid-run", tokens: 8, layers: 4, depth: "deep", watts: 9}, st)
	if err != nil {
		return err
	}
	if err := st.Flush(ctx); err != nil {
		return err
	}
	fmt.Printf("running %s\n", run.ID())
	for i := 3; ; i++ {
		if err := save(i, 40); err != nil {
			return err
		}
	}
}

func TestCompletedRunsSurviveKill(t *testing.T) {
	path := t.TempDir() + "/crash.db"
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	saved := map[string]int{}
	var running string
	sc := bufio.NewScanner(out)
	afterRunning := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch f[0] {
		case "saved":
			var n int
			fmt.Sscan(f[2], &n)
			saved[f[1]] = n
			if running != "" {
				afterRunning++
			}
		case "running":
			running = f[1]
		}
		if afterRunning == 2 {
			break
		}
	}
	// Kill it while it is writing the next large run.
	time.Sleep(15 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if running == "" || len(saved) < 5 {
		t.Fatalf("child did not get far enough: running=%q saved=%d", running, len(saved))
	}

	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for id, comps := range saved {
		rec, err := st.Get(ctx, id)
		if err != nil {
			t.Fatalf("completed run %s lost: %v", id, err)
		}
		if rec.Run.Status != profiler.StatusCompleted || len(rec.Components) != comps || rec.Summary == nil {
			t.Errorf("run %s: status %s, %d components (want %d)", id, rec.Run.Status, len(rec.Components), comps)
		}
	}
	rec, err := st.Get(ctx, running)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Run.Status != profiler.StatusInterrupted {
		t.Errorf("killed run: status %s, want interrupted", rec.Run.Status)
	}
	// Nothing half-written: every stored completed run has all its tokens.
	page, err := st.List(ctx, Query{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page.Runs {
		if r.Status == profiler.StatusCompleted {
			var n int
			st.db.QueryRow(`SELECT count(*) FROM tokens JOIN runs ON runs.rid = tokens.run_rid WHERE runs.id = ?`, r.ID).Scan(&n)
			if int64(n) != *r.OutputTokens {
				t.Errorf("run %s: %d token rows, summary says %d", r.ID, n, *r.OutputTokens)
			}
		}
	}
	if problems, err := st.Check(ctx); err != nil || len(problems) > 0 {
		t.Errorf("integrity: %v %v", problems, err)
	}
}
