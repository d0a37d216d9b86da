package compute

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The arm64 kernels write instructions Go's assembler has no mnemonic for
// (SDOT, vector FADD, SCVTF, …) as WORD encodings, each with its GNU
// mnemonic in a comment. A wrong bit there runs a different instruction,
// silently; this test assembles every commented mnemonic with binutils'
// aarch64 assembler and requires the same 32 bits. It runs on any host
// (CI's is x86-64); .ci/run installs binutils-aarch64-linux-gnu.

var (
	wordLine  = regexp.MustCompile(`WORD\s+\$0x([0-9a-fA-F]{8})\s*(?:/\*|//)\s*([^*\n]*)`)
	objdumpOp = regexp.MustCompile(`(?m)^\s*[0-9a-f]+:\s+([0-9a-f]{8})\s`)
)

func TestARM64WordEncodings(t *testing.T) {
	as, err1 := exec.LookPath("aarch64-linux-gnu-as")
	objdump, err2 := exec.LookPath("aarch64-linux-gnu-objdump")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("aarch64-linux-gnu-as/objdump are not installed; .ci/run installs them (apt package binutils-aarch64-linux-gnu)")
		}
		t.Skip("aarch64-linux-gnu-as/objdump not installed (apt-get install binutils-aarch64-linux-gnu)")
	}
	var words, mnemonics, where []string
	for _, file := range []string{"kernels_arm64.s", "quantdot_arm64.s"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			m := wordLine.FindStringSubmatch(line)
			if m == nil {
				if strings.Contains(line, "WORD $") || strings.Contains(line, "WORD\t$") {
					t.Errorf("%s:%d: a WORD without its mnemonic in a comment", file, i+1)
				}
				continue
			}
			// Notes after the operands stand in parentheses.
			mn := strings.TrimSpace(strings.SplitN(m[2], "(", 2)[0])
			words = append(words, strings.ToLower(m[1]))
			mnemonics = append(mnemonics, mn)
			where = append(where, file+":"+strconv.Itoa(i+1))
		}
	}
	if len(words) < 100 {
		t.Fatalf("only %d WORD encodings found; the pattern no longer matches the files", len(words))
	}
	dir := t.TempDir()
	src, obj := filepath.Join(dir, "words.s"), filepath.Join(dir, "words.o")
	if err := os.WriteFile(src, []byte(strings.Join(mnemonics, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(as, "-march=armv8.2-a+dotprod", "-o", obj, src).CombinedOutput(); err != nil {
		t.Fatalf("assembling the commented mnemonics: %v\n%s", err, out)
	}
	out, err := exec.Command(objdump, "-d", obj).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := objdumpOp.FindAllStringSubmatch(string(out), -1)
	if len(got) != len(words) {
		t.Fatalf("%d mnemonics assembled to %d instructions", len(words), len(got))
	}
	for i, g := range got {
		if g[1] != words[i] {
			t.Errorf("%s: WORD $0x%s, but %q assembles to 0x%s", where[i], words[i], mnemonics[i], g[1])
		}
	}
}
