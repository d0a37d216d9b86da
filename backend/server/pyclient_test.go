package server

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Python client's own tests (clients/python) against two real
// servers: one for windows and server runs, the other answering OpenAI
// requests with its engine. They use Debian's python3 and the standard
// library only.
func TestPythonClient(t *testing.T) {
	py := "/usr/bin/python3" // Debian's, as CI has it
	if _, err := os.Stat(py); err != nil {
		py, err = exec.LookPath("python3")
	}
	if _, err := os.Stat(py); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is missing: CI installs it (.ci/run)")
		}
		t.Skip("python3 is not installed")
	}
	_, engineURL := start(t)
	_, url := start(t)
	dir, err := filepath.Abs(filepath.Join("..", "..", "clients", "python"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-m", "unittest", "-v", "test_energyprofiler")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ENERGYPROFILER_URL="+url, "EP_TEST_V1="+engineURL+"/v1", "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\nOK") || strings.Contains(string(out), "skipped") {
		t.Fatalf("python client tests: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
