package metal

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestMSLParsesAsCxx type-checks kernels.metal with clang as C++14 (the
// language MSL 2 is built on) against metaltest/msl/metal_stdlib, a
// stand-in that declares the Metal library functions our kernels use.
// It catches what a reader misses: typos, wrong argument counts and
// types, undeclared names, missing semicolons. It cannot check Metal-only
// rules (address spaces, attributes); the Mac's compiler does that at
// first use, and `energyprofiler doctor --selftest` reports it.
//
// CI installs clang (.ci/run); elsewhere the test is skipped without it.
func TestMSLParsesAsCxx(t *testing.T) {
	clang, err := exec.LookPath("clang++")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("clang++ is not installed; .ci/run installs it (apt package clang)")
		}
		t.Skip("clang++ not installed (apt-get install clang)")
	}
	src := filepath.Join(t.TempDir(), "kernels.metal")
	if err := os.WriteFile(src, []byte(Source), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(clang, "-std=c++14", "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
		"-Wno-unknown-attributes", "-Wno-unused-parameter",
		"-I", filepath.Join("metaltest", "msl"), "-x", "c++", src)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kernels.metal does not type-check as C++14: %v\n%s", err, out)
	}
}
