package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/profiler"
)

// Issue 12 tests: liveness by instance, failed writes, read-only databases
// and read commands that must not create anything.

const orphanEnv = "ENERGYPROFILER_STORE_ORPHAN_CHILD"

func init() {
	// The child of TestOrphanOfAProcessWithOurPIDIsInterrupted: it starts a
	// run (and queues another), makes them durable and exits without
	// closing, as a crashed server would.
	path := os.Getenv(orphanEnv)
	if path == "" {
		return
	}
	st, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	st.RunStarted(profiler.RunInfo{ID: "33333333-0000-4000-8000-000000000001", CreatedAt: time.Now(), Status: profiler.StatusRunning, Meta: profiler.Meta{ModelName: "m", Prompt: "p"}})
	if err := st.Queued(context.Background(), profiler.RunInfo{ID: "33333333-0000-4000-8000-000000000002", CreatedAt: time.Now(), Meta: profiler.Meta{ModelName: "m", Prompt: "q"}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if err := st.Flush(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	os.Exit(0)
}

// Item 7: in a container the server is PID 1 after every restart, so a run
// left "running" by the crashed one looked alive forever. Liveness is now
// the owning store's instance lock, not its PID.
func TestOrphanOfAProcessWithOurPIDIsInterrupted(t *testing.T) {
	eachBackend(t, testOrphanOfAProcessWithOurPIDIsInterrupted)
}

func testOrphanOfAProcessWithOurPIDIsInterrupted(t *testing.T, be backend) {
	path := be.fresh(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanEnv+"="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	// The restarted server has the dead one's PID and host (plain SQL: no
	// store may look at the runs before the restart does).
	raw := rawDB(t, path)
	host, _ := os.Hostname()
	if _, err := raw.Exec(`UPDATE runs SET owner_pid = ?, owner_host = ?`, os.Getpid(), host); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id, want := range map[string]string{
		"33333333-0000-4000-8000-000000000001": "stopped while the run was in progress",
		"33333333-0000-4000-8000-000000000002": "before the run started",
	} {
		rec, err := st.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Run.Status != profiler.StatusInterrupted || !strings.Contains(rec.Run.Error, want) {
			t.Errorf("orphaned run %s: status %s (%q), want interrupted (%q)", id[:8], rec.Run.Status, rec.Run.Error, want)
		}
	}
}

// A run owned by a store that is still open (another process, or another
// store in this one) stays running.
func TestRunOfALiveInstanceStaysRunning(t *testing.T) {
	eachBackend(t, testRunOfALiveInstanceStaysRunning)
}

func testRunOfALiveInstanceStaysRunning(t *testing.T, be backend) {
	path := be.fresh(t)
	owner, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	info := profiler.RunInfo{ID: "44444444-0000-4000-8000-000000000001", CreatedAt: time.Now(), Status: profiler.StatusRunning, Meta: profiler.Meta{ModelName: "m", Prompt: "p"}}
	owner.RunStarted(info)
	if err := owner.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	other, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	rec, err := other.Get(context.Background(), info.ID)
	if err != nil || rec.Run.Status != profiler.StatusRunning {
		t.Fatalf("a live store's run: %v, %v", rec.Run.Status, err)
	}
}

// Item 6: a run whose record cannot be written (the disk is full) used to
// stay "running" forever. It becomes failed, saying why.
func TestRunThatCannotBeStoredBecomesFailed(t *testing.T) {
	st := openTemp(t)
	ctx := context.Background()
	run, err := startRun(spec{model: "m", prompt: "too big", tokens: 200, layers: 8, depth: "deep", watts: 9}, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Fill the "disk": the database may not grow by another page.
	st.db.SetMaxOpenConns(1)
	var pages int
	if err := st.db.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := st.db.Exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	generate(run, spec{tokens: 200, layers: 8, depth: "deep"})
	if _, err := run.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(ctx); err == nil {
		t.Fatal("storing a run on a full disk reported no error")
	}
	rec, err := st.Get(ctx, run.ID())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Run.Status != profiler.StatusFailed || !strings.Contains(rec.Run.Error, "full") {
		t.Errorf("run that could not be stored: status %s (%q), want failed saying the disk is full", rec.Run.Status, rec.Run.Error)
	}
}

// makeImmutable makes path unwritable even for root (chattr +i), or skips
// where the file system cannot.
func makeImmutable(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if os.Geteuid() != 0 {
			if err := os.Chmod(p, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(p, 0o755) })
			continue
		}
		if out, err := exec.Command("chattr", "+i", p).CombinedOutput(); err != nil {
			t.Skipf("cannot make %s immutable here: %v %s", p, err, out)
		}
		t.Cleanup(func() { exec.Command("chattr", "-i", p).Run() })
	}
}

// readOnlyDB leaves a database with one completed run and one run orphaned
// by a dead process, then makes the database and its folder read-only.
func readOnlyDB(t *testing.T, folderToo bool) (path, completed, orphan string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ro")
	path = filepath.Join(dir, "p.db")
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	rec := makeRecord(t, spec{model: "m", prompt: "done", tokens: 4, layers: 2, depth: "module", watts: 9}, nil)
	if err := st.Save(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	info := profiler.RunInfo{ID: "55555555-0000-4000-8000-000000000001", CreatedAt: time.Now(), Status: profiler.StatusRunning, Meta: profiler.Meta{ModelName: "m", Prompt: "p"}}
	st.RunStarted(info)
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.db.Exec(`UPDATE runs SET owner_pid = 2147483000, owner_instance = 'gone' WHERE id = ?`, info.ID); err != nil {
		t.Fatal(err)
	}
	st.Close()
	makeImmutable(t, path)
	if folderToo {
		makeImmutable(t, dir)
	}
	return path, rec.Run.ID, info.ID
}

// Items 6 and 8: opening used to write (migrations, marking orphans
// interrupted), so a read-only or full database could not be opened at
// all. Now it opens, reads, and says why runs cannot be stored.
func TestReadOnlyDatabaseOpensAndSaysWhy(t *testing.T) {
	t.Run("file", func(t *testing.T) { testReadOnlyDatabase(t, false) })
	t.Run("file and folder", func(t *testing.T) { testReadOnlyDatabase(t, true) })
}

func testReadOnlyDatabase(t *testing.T, folderToo bool) {
	path, completed, orphan := readOnlyDB(t, folderToo)
	st, err := Open(path)
	if err != nil {
		t.Fatalf("Open of a read-only database: %v", err)
	}
	defer st.Close()
	if err := st.Problem(); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Problem() = %v, want it to say the database is read-only", err)
	}
	ctx := context.Background()
	if _, err := st.Get(ctx, completed); err != nil {
		t.Errorf("reading a run: %v", err)
	}
	err = st.Queued(ctx, profiler.RunInfo{ID: "66666666-0000-4000-8000-000000000001", CreatedAt: time.Now(), Meta: profiler.Meta{ModelName: "m", Prompt: "p"}})
	if !errors.Is(err, ErrNotWritable) {
		t.Errorf("queueing a run on a read-only database: %v, want ErrNotWritable", err)
	}
	if err := st.Delete(ctx, "no-such-run"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting an unknown run: %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx, completed); !errors.Is(err, ErrNotWritable) {
		t.Errorf("deleting a run: %v, want ErrNotWritable", err)
	}
	_ = orphan
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	defer ro.Close()
	if page, err := ro.List(ctx, Query{}); err != nil || page.Total != 2 {
		t.Errorf("listing: %d runs, %v", page.Total, err)
	}
}

// Item 9: commands that only read must not create a database or folders.
func TestOpenReadOnlyCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{filepath.Join(dir, "missing.db"), filepath.Join(dir, "no", "such", "dir", "x.db")} {
		if _, err := OpenReadOnly(p); !errors.Is(err, ErrNoDatabase) {
			t.Errorf("OpenReadOnly(%s) = %v, want ErrNoDatabase", p, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("OpenReadOnly created %v", ents)
	}
	// And a read-only store refuses writes instead of attempting them.
	path := filepath.Join(dir, "p.db")
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Delete(context.Background(), "x"); !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrNotWritable) {
		t.Errorf("Delete on a read-only store: %v", err)
	}
}

// Item 5: a run is stored the moment it is accepted, and one that ends
// without ever starting (cancelled in the queue, a model that fails to
// load) gets its terminal state and reason.
func TestQueuedRunsAreStoredAndEnded(t *testing.T) { eachBackend(t, testQueuedRunsAreStoredAndEnded) }

func testQueuedRunsAreStoredAndEnded(t *testing.T, be backend) {
	st := be.open(t)
	ctx := context.Background()
	info := profiler.RunInfo{ID: "77777777-0000-4000-8000-000000000001", CreatedAt: time.Now(), Meta: profiler.Meta{ModelName: "m", Prompt: "p", Tags: []string{"t"}}}
	if err := st.Queued(ctx, info); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Get(ctx, info.ID)
	if err != nil || rec.Run.Status != profiler.StatusQueued {
		t.Fatalf("queued run: %v %v", rec, err)
	}
	if err := st.Queued(ctx, info); err == nil {
		t.Error("queueing the same id twice succeeded")
	}
	if err := st.EndQueued(ctx, info.ID, profiler.StatusCancelled, "cancelled before it started"); err != nil {
		t.Fatal(err)
	}
	rec, _ = st.Get(ctx, info.ID)
	if rec.Run.Status != profiler.StatusCancelled || rec.Run.Error != "cancelled before it started" || rec.Run.FinishedAt == nil {
		t.Errorf("ended queued run: %+v", rec.Run)
	}
	// A run that did start is not touched.
	done := makeRecord(t, spec{model: "m", prompt: "done", tokens: 4, layers: 2, depth: "module", watts: 9}, nil)
	if err := st.Save(ctx, done); err != nil {
		t.Fatal(err)
	}
	if err := st.EndQueued(ctx, done.Run.ID, profiler.StatusFailed, "x"); err != nil {
		t.Fatal(err)
	}
	if rec, _ := st.Get(ctx, done.Run.ID); rec.Run.Status != profiler.StatusCompleted {
		t.Errorf("EndQueued changed a finished run to %s", rec.Run.Status)
	}
}

// Items 6 and 9: read-only commands open without writing, so they cannot
// upgrade a database whose schema is older than this program's (written by
// an older version, or being created by another process this moment). They
// used to open it anyway and fail on the first query with "SQL logic
// error: no such column"; now opening says what it is and what to do.
func TestOpenReadOnlyRefusesAnOlderSchemaClearly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	sqldb, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	d := &db{DB: sqldb, d: sqliteDialect}
	ctx := context.Background()
	const old = 2
	for v, m := range migrations()[:old] {
		tx, err := d.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, d.d.ddl(m)); err != nil {
			t.Fatal(err)
		}
		if err := setVersion(ctx, tx, v+1); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()

	ro, err := OpenReadOnly(path)
	if err == nil {
		_, qerr := ro.List(ctx, Query{})
		ro.Close()
		t.Fatalf("OpenReadOnly of a schema-%d database succeeded (a list then gave %v)", old, qerr)
	}
	if !errors.Is(err, ErrOldSchema) || !strings.Contains(err.Error(), fmt.Sprint(old)) || !strings.Contains(err.Error(), "upgrade") {
		t.Errorf("OpenReadOnly: %v, want ErrOldSchema naming version %d and how to upgrade", err, old)
	}
	// A writing open upgrades it, and then it reads.
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	ro, err = OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.List(ctx, Query{}); err != nil {
		t.Error(err)
	}
}

// A relative path (energyprofiler runs --db p.db) opens read-only as it
// opens for writing: "file:" URLs with a relative path must not read the
// path's first element as a host ("invalid uri authority").
func TestOpenReadOnlyRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"p.db", filepath.Join("sub", "q.db"), "./r.db"} {
		st, err := Open(p)
		if err != nil {
			t.Fatalf("Open(%s): %v", p, err)
		}
		st.Close()
		ro, err := OpenReadOnly(p)
		if err != nil {
			t.Errorf("OpenReadOnly(%s): %v", p, err)
			continue
		}
		if _, err := ro.List(context.Background(), Query{}); err != nil {
			t.Errorf("List on %s: %v", p, err)
		}
		ro.Close()
	}
}
