package helper

import (
	"slices"
	"strings"
	"testing"
)

func TestArgvClamping(t *testing.T) {
	tests := []struct {
		in   uint32
		want string
	}{
		{0, "100"}, {1, "100"}, {99, "100"}, {100, "100"}, {250, "250"},
		{1000, "1000"}, {10000, "10000"}, {10001, "10000"}, {1 << 31, "10000"}, {^uint32(0), "10000"},
	}
	for _, tt := range tests {
		got := ArgvFor(tt.in, 15)
		want := []string{"-f", "plist", "-b", "1", "--handle-invalid-values", "-i", tt.want, "-s", "cpu_power,gpu_power,ane_power"}
		if !slices.Equal(got, want) {
			t.Errorf("Argv(%d) = %q, want %q", tt.in, got, want)
		}
	}
}

// macOS 12 has no ane_power sampler (an unknown sampler stops powermetrics);
// 13 and later have it. The sudoers rule follows the same argv.
func TestArgvSamplersByMacOSVersion(t *testing.T) {
	for _, c := range []struct {
		major int
		want  string
	}{{11, "cpu_power,gpu_power"}, {12, "cpu_power,gpu_power"}, {13, "cpu_power,gpu_power,ane_power"}, {26, "cpu_power,gpu_power,ane_power"}, {0, "cpu_power,gpu_power,ane_power"}} {
		a := ArgvFor(1000, c.major)
		if a[len(a)-2] != "-s" || a[len(a)-1] != c.want {
			t.Errorf("macOS %d: argv %q, want samplers %s", c.major, a, c.want)
		}
	}
	for v, want := range map[string]int{"12.6.1": 12, "13.0": 13, "26": 26, " 15.5\n": 15, "": 0, "x.1": 0} {
		if got := parseMajor(v); got != want {
			t.Errorf("parseMajor(%q) = %d, want %d", v, got, want)
		}
	}
}

func TestArgvNeverWritesFiles(t *testing.T) {
	for _, ms := range []uint32{0, 100, 1000, 10000, 99999} {
		for _, a := range Argv(ms) {
			if a == "-o" || a == "-u" || strings.HasPrefix(a, "--output") || strings.Contains(a, "/") || a == "--show-initial-usage" {
				t.Errorf("Argv(%d) contains %q", ms, a)
			}
		}
	}
}

func TestSudoersRulePinsTheFullArgv(t *testing.T) {
	rule, err := SudoersRule("alice", 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := `alice ALL = (root) NOPASSWD: /usr/bin/powermetrics -f plist -b 1 --handle-invalid-values -i 1000 -s cpu_power\,gpu_power\,ane_power`
	if rule != want {
		t.Errorf("rule:\n got %s\nwant %s", rule, want)
	}
	if strings.HasSuffix(strings.TrimSpace(rule), PowermetricsPath) {
		t.Errorf("rule allows any arguments: %s", rule)
	}
	// The sudo command line must be the rule's command.
	sudo := SudoArgv(1000)
	if sudo[0] != "/usr/bin/sudo" || sudo[1] != "-n" || strings.Join(sudo[2:], " ") != PowermetricsPath+" "+strings.Join(Argv(1000), " ") {
		t.Errorf("SudoArgv = %q", sudo)
	}
	for _, bad := range []string{"", "-root", "a b", "x;rm", "ALL", "a\nb"} {
		if bad == "ALL" {
			continue // a legal user name; sudoers treats it as the ALL alias, documented in docs/macos.md
		}
		if _, err := SudoersRule(bad, 1000); err == nil {
			t.Errorf("SudoersRule(%q) accepted", bad)
		}
	}
}
