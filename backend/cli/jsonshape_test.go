package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"energyprofiler/backend/jsoncheck"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/store"
)

// Every --json output, decoded into the type it is written from, has no
// nil slice: lists are [] when empty, never null. The inputs are the edge
// cases that produce empty lists (empty text, no power source, an empty
// database, runs without tags).
func TestJSONOutputsHaveNoNullLists(t *testing.T) {
	modelDir := profTestModel(t)
	db := filepath.Join(t.TempDir(), "p.db")
	trace := profReplay(t, 10)
	empty := t.TempDir() // no sysfs, no procfs: no power source at all
	plist, err := os.ReadFile(filepath.Join("..", "power", "testdata", "powermetrics", "m1-plist-1.plist"))
	if err != nil {
		t.Fatal(err)
	}
	plistPath := filepath.Join(t.TempDir(), "pm.plist")
	os.WriteFile(plistPath, plist, 0o644)

	// An empty database, as one profile-less serve leaves it.
	empt, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	empt.Close()

	var firstRun string
	cases := []struct {
		name  string
		args  []string
		into  func() any
		after func(v any)
	}{
		{"tokenize empty text", []string{"tokenize", "--model", modelDir, "--json", "--no-special", ""}, func() any { return &tokenizeReport{} }, nil},
		{"tokenize empty text with specials", []string{"tokenize", "--model", modelDir, "--json", ""}, func() any { return &tokenizeReport{} }, nil},
		{"inspect", []string{"inspect", modelDir, "--json"}, func() any { return &inspectReport{} }, nil},
		{"generate", []string{"generate", "--model", modelDir, "--prompt", "Hi", "--max-tokens", "1", "--json"}, func() any { return &generateReport{} }, nil},
		{"doctor with no source", []string{"doctor", "--json", "--sysfs-root", empty, "--proc-root", empty, "--nvml-lib", filepath.Join(empty, "none.so")}, func() any { return &doctorReport{} }, nil},
		{"power parse", []string{"power", "parse", "--format", "powermetrics-plist", "--json", plistPath}, func() any { return &parseOutput{} }, nil},
		{"runs of an empty database", []string{"runs", "--db", db, "--json"}, func() any { return &store.Page{} }, nil},
		{"profile without tags", []string{"profile", "--model", modelDir, "--prompt", "Hi", "--max-tokens", "2", "--power", "replay:" + trace, "--interval", "10ms", "--idle", "0", "--db", db, "--json"},
			func() any { return &profiler.Summary{} }, func(v any) { firstRun = v.(*profiler.Summary).RunID }},
		{"profile repeated", []string{"profile", "--model", modelDir, "--prompt", "Hi", "--max-tokens", "2", "--power", "replay:" + trace, "--interval", "10ms", "--idle", "0", "--repeat", "2", "--cooldown", "0", "--db", db, "--json"},
			func() any { return &repeatReport{} }, nil},
		{"runs", []string{"runs", "--db", db, "--json"}, func() any { return &store.Page{} }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := profCLI(t, c.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			v := c.into()
			if err := json.Unmarshal([]byte(out), v); err != nil {
				t.Fatalf("not JSON of its type: %v\n%.300s", err, out)
			}
			if nils := jsoncheck.NilSlices(v); len(nils) > 0 {
				t.Errorf("null lists at %s in %.300s", strings.Join(nils, ", "), out)
			}
			if c.after != nil {
				c.after(v)
			}
		})
	}
	if firstRun == "" {
		t.Fatal("no run to show, export and compare")
	}
	code, out, errOut := profCLI(t, "runs", "--db", db, "--json", "--limit", "3")
	var page store.Page
	if code != 0 || json.Unmarshal([]byte(out), &page) != nil || len(page.Runs) < 2 {
		t.Fatalf("runs: %d %s", code, errOut)
	}
	for _, c := range []struct {
		name string
		args []string
		into any
	}{
		{"show", []string{"show", firstRun, "--db", db, "--json"}, &profiler.Record{}},
		{"export json", []string{"export", firstRun, "--db", db, "--format", "json"}, &profiler.Record{}},
		{"compare", []string{"compare", page.Runs[0].ID, page.Runs[1].ID, "--db", db, "--json"}, &profiler.Comparison{}},
	} {
		code, out, errOut := profCLI(t, c.args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.name, code, errOut)
		}
		if err := json.Unmarshal([]byte(out), c.into); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if nils := jsoncheck.NilSlices(c.into); len(nils) > 0 {
			t.Errorf("%s: null lists at %s", c.name, strings.Join(nils, ", "))
		}
	}
}
