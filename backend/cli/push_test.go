package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"energyprofiler/backend/demo"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/store"
	"energyprofiler/backend/store/pgtest"
	"energyprofiler/backend/tokenizer"
)

// teamServer starts `serve` on teamDB with an admin token, as a team
// would, and returns its URL.
func teamServer(t *testing.T, teamDB string) string {
	t.Helper()
	t.Setenv(tokenEnv, "team-admin-token-0123456789abcdef")
	models := filepath.Join(t.TempDir(), "models")
	if _, err := demo.WriteSpec(models, demo.Spec{Name: "tiny", Hidden: 32, Intermediate: 64, Layers: 1, Heads: 4, KVHead: 2,
		Vocab: tokenizer.DemoVocabSize(demo.TokenizerMerges) + 8}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(models, "tiny", demo.MarkerFile)); err != nil {
		t.Fatal(err)
	}
	port := serveInBackground(t, "--addr", "127.0.0.1:0", "--db", teamDB, "--models-dir", models, "--power", "cpu-load")
	os.Unsetenv(tokenEnv) // the pushers bring their own
	return "http://127.0.0.1:" + port
}

// tokenFile makes a push or view token on the team database and writes it
// to a file only its owner can read.
func tokenFile(t *testing.T, teamDB, name, role string) string {
	t.Helper()
	code, out, errOut := profCLI(t, "token", "add", name, "--role", role, "--db", teamDB)
	if code != 0 {
		t.Fatalf("token add: %d %s", code, errOut)
	}
	p := filepath.Join(t.TempDir(), name+".token")
	if err := os.WriteFile(p, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func teamDBs(t *testing.T, fn func(t *testing.T, teamDB string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, filepath.Join(t.TempDir(), "team.db")) })
	t.Run("postgres", func(t *testing.T) { fn(t, pgtest.URL(t)) })
}

// Runs profiled on a machine into its SQLite database reach the team
// server whole; pushing again copies nothing; tokens decide who may push.
func TestPushEndToEnd(t *testing.T) { teamDBs(t, testPushEndToEnd) }

func testPushEndToEnd(t *testing.T, teamDB string) {
	local := filepath.Join(t.TempDir(), "local.db")
	modelDir := profTestModel(t)
	trace := profReplay(t, 12)
	t.Setenv(profiler.EnvMachine, "lab-mac")
	code, _, errOut := profCLI(t, "profile", "--model", modelDir, "--prompt", "Hello team", "--max-tokens", "4", "--ignore-eos",
		"--repeat", "2", "--power", "replay:"+trace, "--interval", "10ms", "--idle", "0", "--db", local)
	if code != 0 {
		t.Fatalf("profile: %d %s", code, errOut)
	}
	// An energy window around a command is a run of its own kind.
	if code, _, errOut := profCLI(t, "measure", "--note", "a data prep step", "--power", "replay:"+trace, "--interval", "10ms", "--idle", "0",
		"--db", local, "--", "true"); code != 0 {
		t.Fatalf("measure: %d %s", code, errOut)
	}
	url := teamServer(t, teamDB)
	pushTok := tokenFile(t, teamDB, "lab-mac", store.RolePush)

	code, out, errOut := profCLI(t, "push", "--all", "--to", url, "--db", local, "--token-file", pushTok)
	if code != 0 || !strings.Contains(out, "3 run(s) copied") {
		t.Fatalf("first push: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = profCLI(t, "push", "--all", "--to", url, "--db", local, "--token-file", pushTok)
	if code != 0 || !strings.Contains(out, "0 run(s) copied") || !strings.Contains(out, "3 already there") {
		t.Fatalf("second push must copy nothing: %d\n%s%s", code, out, errOut)
	}

	// The team lists the window by its kind, with its note.
	code, out, _ = profCLI(t, "runs", "--db", teamDB, "--kind", "window", "--json")
	var windows store.Page
	if code != 0 || json.Unmarshal([]byte(out), &windows) != nil || windows.Total != 1 || windows.Runs[0].Kind != "window" || windows.Runs[0].MachineName != "lab-mac" {
		t.Fatalf("team windows: %d %s", code, out)
	}
	_, mine, _ := profCLI(t, "show", windows.Runs[0].ID, "--json", "--db", local)
	_, theirs, _ := profCLI(t, "show", windows.Runs[0].ID, "--json", "--db", teamDB)
	if mine != theirs || !strings.Contains(theirs, "a data prep step") {
		t.Errorf("the team's copy of the window differs from the pushed one:\n%s\n%s", mine, theirs)
	}

	// The team's copy is the local record, and knows its machine.
	code, out, _ = profCLI(t, "runs", "--db", teamDB, "--machine", "lab-mac", "--kind", "engine", "--json")
	var page store.Page
	if code != 0 || json.Unmarshal([]byte(out), &page) != nil || page.Total != 2 {
		t.Fatalf("team runs on lab-mac: %d %s", code, out)
	}
	if r := page.Runs[0]; r.MachineName != "lab-mac" || !strings.HasPrefix(r.PowerSources, "replay:") {
		t.Errorf("team run's machine: %+v", r)
	}
	id := page.Runs[0].ID
	_, mine, _ = profCLI(t, "show", id, "--json", "--db", local)
	_, theirs, _ = profCLI(t, "show", id, "--json", "--db", teamDB)
	if mine != theirs || len(mine) < 1000 {
		t.Errorf("the team's copy differs from the pushed run (%d vs %d bytes)", len(mine), len(theirs))
	}

	// A viewer's token may not push; a wrong one is refused.
	viewTok := tokenFile(t, teamDB, "dashboard", store.RoleView)
	other := filepath.Join(t.TempDir(), "other.db")
	if code, _, errOut := profCLI(t, "profile", "--model", modelDir, "--prompt", "x", "--max-tokens", "2", "--power", "replay:"+trace,
		"--interval", "10ms", "--idle", "0", "--db", other); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := profCLI(t, "push", "--all", "--to", url, "--db", other, "--token-file", viewTok); code == 0 || !strings.Contains(errOut, "use a push token") {
		t.Errorf("push with a viewer's token: %d %s", code, errOut)
	}
	t.Setenv(tokenEnv, "not-a-token-of-this-server")
	if code, _, errOut := profCLI(t, "push", "--all", "--to", url, "--db", other); code == 0 || !strings.Contains(errOut, "refused the token") {
		t.Errorf("push with a wrong token: %d %s", code, errOut)
	}
	os.Unsetenv(tokenEnv)
	// A revoked token stops working at once.
	if code, _, errOut := profCLI(t, "token", "revoke", "lab-mac", "--db", teamDB); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := profCLI(t, "push", "--all", "--to", url, "--db", other, "--token-file", pushTok); code == 0 || !strings.Contains(errOut, "refused the token") {
		t.Errorf("push with a revoked token: %d %s", code, errOut)
	}
}

// Twenty machines push at once through one team server: nothing is lost,
// nothing is stored twice.
func TestTwentyConcurrentPushersLoseNothing(t *testing.T) { teamDBs(t, testTwentyConcurrentPushers) }

func testTwentyConcurrentPushers(t *testing.T, teamDB string) {
	const pushers, perPusher = 20, 5
	ctx := context.Background()
	// One real run, copied into twenty machines' databases under new ids.
	modelDir := profTestModel(t)
	seed := filepath.Join(t.TempDir(), "seed.db")
	if code, _, errOut := profCLI(t, "profile", "--model", modelDir, "--prompt", "seed", "--max-tokens", "4", "--ignore-eos", "--depth", "deep",
		"--power", "replay:"+profReplay(t, 9), "--interval", "10ms", "--idle", "0", "--db", seed); code != 0 {
		t.Fatal(errOut)
	}
	st, err := store.OpenReadOnly(seed)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := st.List(ctx, store.Query{})
	base, err := st.Get(ctx, page.Runs[0].ID)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	var dbs []string
	for p := 0; p < pushers; p++ {
		db := filepath.Join(t.TempDir(), "machine.db")
		st, err := store.Open(db)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < perPusher; i++ {
			rec := *base
			rec.Run.ID = fmt.Sprintf("%08x-0000-4000-8000-%012x", p, i)
			sum := *base.Summary
			sum.RunID = rec.Run.ID
			rec.Summary = &sum
			rec.Run.Host.ID, rec.Run.Host.Hostname = fmt.Sprintf("machine-id-%02d", p), fmt.Sprintf("machine-%02d", p)
			if err := st.Save(ctx, &rec); err != nil {
				t.Fatal(err)
			}
		}
		st.Close()
		dbs = append(dbs, db)
	}
	url := teamServer(t, teamDB)
	var toks []string
	for p := range dbs {
		toks = append(toks, tokenFile(t, teamDB, fmt.Sprintf("machine-%02d", p), store.RolePush))
	}
	var wg sync.WaitGroup
	fails := make(chan string, pushers)
	for p := range dbs {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			var out, errb syncBuffer
			if code := Main(ctx, []string{"push", "--all", "--to", url, "--db", dbs[p], "--token-file", toks[p]}, &out, &errb); code != 0 ||
				!strings.Contains(out.String(), fmt.Sprintf("%d run(s) copied", perPusher)) {
				fails <- fmt.Sprintf("pusher %d: exit %d: %s%s", p, code, out.String(), errb.String())
			}
		}(p)
	}
	wg.Wait()
	close(fails)
	for f := range fails {
		t.Error(f)
	}
	team, err := store.OpenReadOnly(teamDB)
	if err != nil {
		t.Fatal(err)
	}
	defer team.Close()
	all, err := team.List(ctx, store.Query{Limit: 1000})
	if err != nil || all.Total != pushers*perPusher {
		t.Fatalf("%d runs on the team server (%v), want %d", all.Total, err, pushers*perPusher)
	}
	for _, r := range all.Runs {
		rec, err := team.Get(ctx, r.ID)
		if err != nil || len(rec.Components) != len(base.Components) || len(rec.Tokens) != len(base.Tokens) || len(rec.Samples) != len(base.Samples) {
			t.Fatalf("run %s arrived incomplete: %v", r.ID, err)
		}
	}
	ms, err := team.Machines(ctx)
	if err != nil || len(ms) != pushers {
		t.Errorf("%d machines (%v), want %d", len(ms), err, pushers)
	}
}

// The team server of these tests listens on a port of its own: with the
// default 127.0.0.1:8000 taken (another server, another test binary), the
// push tests failed with "address already in use".
func TestTeamServerWhileTheDefaultPortIsBusy(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.1:8000"); err == nil {
		defer ln.Close()
	} // else something else holds it: busy all the same
	url := teamServer(t, filepath.Join(t.TempDir(), "team.db"))
	if strings.HasSuffix(url, ":8000") {
		t.Errorf("team server at %s", url)
	}
}
