package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 12 item 4: non-finite settings used to run, print "completed", exit
// 0 and store nothing (the summary could not be encoded). They are refused
// before anything runs, with exit status 2 and the flag named.
func TestNonFiniteSettingsAreRefused(t *testing.T) {
	model := profTestModel(t)
	for _, tt := range []struct{ flag, value string }{
		{"--temperature", "NaN"}, {"--temperature", "Inf"}, {"--temperature", "-Inf"},
		{"--top-p", "NaN"}, {"--top-p", "+Inf"},
		{"--price", "NaN"}, {"--price", "Inf"},
		{"--co2", "Inf"}, {"--co2", "NaN"}, {"--co2", "1e999"},
	} {
		t.Run(tt.flag+"="+tt.value, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "runs.db")
			code, _, stderr := profCLI(t, "profile", "--model", model, "--prompt", "hi", "--max-tokens", "2", "--idle", "0",
				"--power", "cpu-load", "--db", db, tt.flag, tt.value)
			if code != 2 || !strings.Contains(stderr, strings.TrimPrefix(tt.flag, "--")) {
				t.Errorf("exit %d, stderr %q; want 2 and an error naming %s", code, stderr, tt.flag)
			}
			if _, err := os.Stat(db); err == nil {
				t.Errorf("a refused profile created the database")
			}
		})
	}
	for _, tt := range []struct{ flag, value string }{{"--temperature", "NaN"}, {"--top-p", "NaN"}, {"--temperature", "Inf"}} {
		code, _, stderr := profCLI(t, "generate", "--model", model, "--prompt", "hi", "--max-tokens", "2", tt.flag, tt.value)
		if code != 2 {
			t.Errorf("generate %s %s: exit %d, stderr %q; want 2", tt.flag, tt.value, code, stderr)
		}
	}
}
