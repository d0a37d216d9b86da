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

// TestCompletedRunsSurviveKill kills a writer process with SIGKILL while it
// is storing runs, three times over the same database, and checks after each
// kill that every run it reported completed is intact and that the run it
// had started but not finished is marked interrupted.
func TestCompletedRunsSurviveKill(t *testing.T) { eachBackend(t, testCompletedRunsSurviveKill) }

func testCompletedRunsSurviveKill(t *testing.T, be backend) {
	path := be.fresh(t)
	saved := map[string]int{}
	var running []string
	for round, delay := range []time.Duration{3 * time.Millisecond, 9 * time.Millisecond, 15 * time.Millisecond} {
		r := killWriter(t, path, round+1, delay, saved)
		running = append(running, r)
		if be.postgres() {
			waitSessionsEnded(t, path)
		}

		st, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for id, comps := range saved {
			rec, err := st.Get(ctx, id)
			if err != nil {
				t.Fatalf("round %d: completed run %s lost: %v", round, id, err)
			}
			if rec.Run.Status != profiler.StatusCompleted || len(rec.Components) != comps || rec.Summary == nil {
				t.Errorf("round %d: run %s: status %s, %d components (want %d)", round, id, rec.Run.Status, len(rec.Components), comps)
			}
		}
		for _, id := range running {
			rec, err := st.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Run.Status != profiler.StatusInterrupted {
				t.Errorf("round %d: killed run %s: status %s, want interrupted", round, id, rec.Run.Status)
			}
		}
		// Nothing half-written: every completed run has all its tokens.
		page, err := st.List(ctx, Query{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Runs {
			if r.Status == profiler.StatusCompleted {
				var n int
				st.db.QueryRow(`SELECT count(*) FROM tokens JOIN runs ON runs.rid = tokens.run_rid WHERE runs.id = ?`, r.ID).Scan(&n)
				if int64(n) != *r.OutputTokens {
					t.Errorf("round %d: run %s: %d token rows, summary says %d", round, r.ID, n, *r.OutputTokens)
				}
			}
		}
		if problems, err := st.Check(ctx); err != nil || len(problems) > 0 {
			t.Errorf("round %d: integrity: %v %v", round, problems, err)
		}
		st.Close()
	}
}

// killWriter runs crashChild on path, lets it store `after` more runs once
// its unfinished run has started, waits delay and kills it. It records the
// runs the child reported completed and returns the unfinished run's id.
func killWriter(t *testing.T, path string, after int, delay time.Duration, saved map[string]int) string {
	t.Helper()
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
	var running string
	sc := bufio.NewScanner(out)
	n := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch f[0] {
		case "saved":
			var comps int
			fmt.Sscan(f[2], &comps)
			saved[f[1]] = comps
			if running != "" {
				n++
			}
		case "running":
			running = f[1]
		}
		if n == after {
			break
		}
	}
	time.Sleep(delay) // into the middle of the next run's write
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if running == "" || n < after {
		t.Fatalf("child did not get far enough: running=%q, %d saves after it", running, n)
	}
	return running
}

// waitSessionsEnded waits until PostgreSQL has ended the killed writer's
// sessions. The kernel closes its connections at once, but the server
// notices only when the backend next reads from one (after finishing the
// statement it was running), and until then the writer's instance lock is
// held and its runs rightly count as still running; a team server's reaper
// finds them a minute later.
func waitSessionsEnded(t *testing.T, location string) {
	t.Helper()
	raw := rawDB(t, location)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := raw.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
	AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed writer's %d advisory lock(s) are still held after 30 s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
