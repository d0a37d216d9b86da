package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 12 item 9: `db check --db /nonexistent.db` created an empty
// database and said "ok"; `runs --db /no/such/dir/x.db` created folders.
// Commands that only read now create nothing and say there is no database.
func TestReadCommandsCreateNothing(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nonexistent.db")
	deep := filepath.Join(dir, "no", "such", "dir", "x.db")
	for _, args := range [][]string{
		{"db", "check", "--db", missing},
		{"runs", "--db", deep},
		{"runs", "--json", "--db", missing},
		{"show", "abc", "--db", missing},
		{"export", "abc", "--db", deep},
		{"compare", "a", "b", "--db", missing},
		{"delete", "abc", "--db", deep},
	} {
		code, stdout, stderr := profCLI(t, args...)
		if code == 0 || strings.Contains(stdout, "ok") {
			t.Errorf("%v: exit %d, stdout %q; want a failure", args, code, stdout)
		}
		if !strings.Contains(stderr, "no run database") {
			t.Errorf("%v: stderr %q does not say there is no database", args, stderr)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("read commands created %v", ents)
	}
}
