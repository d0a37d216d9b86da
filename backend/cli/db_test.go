package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"energyprofiler/backend/store"
)

func TestDBCheck(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sub", "p.db")
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out, errOut := profCLI(t, "db", "check", "--db", db)
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("db check on a new database: %d %q %q", code, out, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(bad, []byte(strings.Repeat("not a database ", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = profCLI(t, "db", "check", "--db", bad)
	if code != 1 || !strings.Contains(errOut, "bad.db") {
		t.Errorf("db check on garbage: exit %d %q, want 1 naming the file", code, errOut)
	}
	if code, _, _ = profCLI(t, "db", "--db", db); code != 2 {
		t.Errorf("db without check: exit %d, want 2", code)
	}
}
