package installer

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"energyprofiler/backend/helper"

	"howett.net/plist"
)

const buildDarwin = "../../../build/darwin"

func TestLaunchDaemonPlist(t *testing.T) {
	b, err := LaunchDaemonPlist("")
	if err != nil {
		t.Fatal(err)
	}
	var got launchDaemon
	if _, err := plist.Unmarshal(b, &got); err != nil {
		t.Fatalf("generated plist does not decode: %v\n%s", err, b)
	}
	want := []string{InstalledHelperPath, "--socket", helper.DefaultSocketPath}
	if got.Label != helper.Label || !slices.Equal(got.ProgramArguments, want) || !got.RunAtLoad || !got.KeepAlive {
		t.Errorf("plist = %+v", got)
	}
	if _, err := LaunchDaemonPlist("relative.sock"); err == nil {
		t.Error("accepted a relative socket path")
	}
}

// The static SMAppService plist in build/darwin must agree with the code.
func TestBundlePlistMatchesHelper(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(buildDarwin, helper.PlistName))
	if err != nil {
		t.Fatal(err)
	}
	var pl struct {
		Label            string   `plist:"Label"`
		BundleProgram    string   `plist:"BundleProgram"`
		ProgramArguments []string `plist:"ProgramArguments"`
		Associated       []string `plist:"AssociatedBundleIdentifiers"`
	}
	if _, err := plist.Unmarshal(b, &pl); err != nil {
		t.Fatalf("%s: %v", helper.PlistName, err)
	}
	if pl.Label != helper.Label {
		t.Errorf("Label %q, want %q", pl.Label, helper.Label)
	}
	if pl.BundleProgram != "Contents/MacOS/"+helper.BundleHelperName {
		t.Errorf("BundleProgram %q", pl.BundleProgram)
	}
	if !slices.Equal(pl.ProgramArguments, []string{helper.BundleHelperName, "--socket", helper.DefaultSocketPath}) {
		t.Errorf("ProgramArguments %q", pl.ProgramArguments)
	}

	info, err := os.ReadFile(filepath.Join(buildDarwin, "Info.plist"))
	if err != nil {
		t.Fatal(err)
	}
	var ip map[string]any
	if _, err := plist.Unmarshal(info, &ip); err != nil {
		t.Fatalf("Info.plist: %v", err)
	}
	for k, v := range map[string]any{
		"CFBundleName": "Energy Profiler", "CFBundleIdentifier": "com.energyprofiler.app", "LSUIElement": true,
		"NSHighResolutionCapable": true, "LSMinimumSystemVersion": "12.0", "CFBundleExecutable": "energyprofiler-desktop",
	} {
		if ip[k] != v {
			t.Errorf("Info.plist %s = %v, want %v", k, ip[k], v)
		}
	}
	if !slices.Contains(pl.Associated, ip["CFBundleIdentifier"].(string)) {
		t.Errorf("helper plist AssociatedBundleIdentifiers %q lacks the app's id", pl.Associated)
	}
}

func TestShellQuote(t *testing.T) {
	for _, s := range []string{"", "plain", "/Applications/Energy Profiler.app/Contents/MacOS/x", `it's "quoted" $HOME \n`, "a\nb", "'"} {
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+ShellQuote(s)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != s {
			t.Errorf("sh saw %q for %q", out, s)
		}
	}
}

// The install script is valid sh, quotes the bundle path, and its plist
// line writes exactly LaunchDaemonPlist.
func TestInstallScript(t *testing.T) {
	src := "/Users/o'neil/Applications/Energy Profiler.app/Contents/MacOS/" + helper.BundleHelperName
	script, err := InstallScript(src, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("/bin/sh", "-n", "-c", script).Run(); err != nil {
		t.Fatalf("sh -n: %v\n%s", err, script)
	}
	if !strings.Contains(script, ShellQuote(src)) {
		t.Errorf("bundle path not quoted as one word:\n%s", script)
	}
	var printfLine string
	for _, l := range strings.Split(script, "\n") {
		if strings.HasPrefix(l, "/usr/bin/printf") {
			printfLine = l
		}
	}
	// Multi-line quoted word: take the command up to the redirection.
	start := strings.Index(script, "/usr/bin/printf")
	end := strings.Index(script[start:], " > "+ShellQuote(LaunchDaemonPlistPath))
	if printfLine == "" || end < 0 {
		t.Fatalf("no plist write in:\n%s", script)
	}
	out := filepath.Join(t.TempDir(), "out.plist")
	cmd := script[start:start+end] + " > " + ShellQuote(out)
	cmd = strings.Replace(cmd, "/usr/bin/printf", "printf", 1)
	if b, err := exec.Command("/bin/sh", "-c", cmd).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	written, _ := os.ReadFile(out)
	want, _ := LaunchDaemonPlist("")
	if strings.TrimSpace(string(written)) != strings.TrimSpace(string(want)) {
		t.Errorf("script writes:\n%s\nwant:\n%s", written, want)
	}
	if _, err := InstallScript("relative/helper", ""); err == nil {
		t.Error("accepted a relative helper path")
	}
	if err := exec.Command("/bin/sh", "-n", "-c", UninstallScript("")).Run(); err != nil {
		t.Errorf("uninstall script: %v", err)
	}
}

// unescapeAppleScript reads an AppleScript string literal body back, so the
// test checks the round trip rather than the escaping table.
func unescapeAppleScript(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func TestAdminAppleScript(t *testing.T) {
	script, _ := InstallScript(`/Apps/We "Quote" \ back/`+helper.BundleHelperName, "")
	as := AdminAppleScript(script, `Energy "Profiler"`)
	const pre, mid, post = `do shell script "`, `" with prompt "`, `" with administrator privileges`
	if !strings.HasPrefix(as, pre) || !strings.HasSuffix(as, post) {
		t.Fatalf("AppleScript shape: %s", as)
	}
	body := strings.TrimSuffix(strings.TrimPrefix(as, pre), post)
	// An unescaped quote would end the literal early: there must be exactly
	// one unescaped `" with prompt "` boundary.
	i := strings.LastIndex(body, mid)
	if i < 0 {
		t.Fatal("no prompt")
	}
	if got := unescapeAppleScript(body[:i]); got != script {
		t.Errorf("shell script does not survive AppleScript escaping:\n%s", got)
	}
	if got := unescapeAppleScript(body[i+len(mid):]); got != `Energy "Profiler"` {
		t.Errorf("prompt = %q", got)
	}
	if strings.Contains(body, "\n") {
		t.Error("raw newline inside the AppleScript literal")
	}
}

func TestMakeAppLayout(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"desk", "help", "cli"} {
		os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644)
	}
	app := filepath.Join(dir, "out", "Energy Profiler.app")
	cmd := exec.Command("/bin/sh", filepath.Join(buildDarwin, "make-app.sh"),
		filepath.Join(dir, "desk"), filepath.Join(dir, "help"), filepath.Join(dir, "cli"), app)
	cmd.Env = append(os.Environ(), "SIGN_IDENTITY=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make-app.sh: %v\n%s", err, out)
	}
	for path, want := range map[string]string{
		"Contents/MacOS/energyprofiler-desktop":              "desk",
		"Contents/MacOS/" + helper.BundleHelperName:          "help",
		"Contents/MacOS/energyprofiler":                      "cli",
		"Contents/Library/LaunchDaemons/" + helper.PlistName: "",
		"Contents/Info.plist":                                "",
	} {
		b, err := os.ReadFile(filepath.Join(app, path))
		if err != nil {
			t.Errorf("bundle lacks %s: %v", path, err)
			continue
		}
		if want != "" && string(b) != want {
			t.Errorf("%s holds %q, want %q", path, b, want)
		}
	}
	fi, err := os.Stat(filepath.Join(app, "Contents/MacOS", helper.BundleHelperName))
	if err == nil && fi.Mode().Perm()&0o111 == 0 {
		t.Error("helper not executable")
	}
	// A missing input fails with a message, not a half-built bundle.
	out, err := exec.Command("/bin/sh", filepath.Join(buildDarwin, "make-app.sh"), "/nonexistent", "x", "y", app).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "build it first") {
		t.Errorf("missing binary: %v %s", err, out)
	}
}

func TestInstallOutsideMacOS(t *testing.T) {
	if runtime.GOOS == "darwin" {
		t.Skip("would register the real daemon")
	}
	if _, err := RegisterDaemon(); !errors.Is(err, ErrNeedsMacOS) {
		t.Errorf("RegisterDaemon = %v", err)
	}
	if err := InstallLaunchDaemon(t.Context(), "/x", ""); !errors.Is(err, ErrNeedsMacOS) {
		t.Errorf("InstallLaunchDaemon = %v", err)
	}
}

// TestMakefileLinksTheMacApp checks the desktop link line `make app` runs on
// a Mac (make -n with HOST_OS=Darwin): plain go build must add what `wails
// build` adds (Wails' darwin code uses UTType), and the deployment target
// must be Info.plist's minimum macOS.
func TestMakefileLinksTheMacApp(t *testing.T) {
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make not installed")
	}
	info, err := os.ReadFile(filepath.Join(buildDarwin, "Info.plist"))
	if err != nil {
		t.Fatal(err)
	}
	var ip struct {
		Min string `plist:"LSMinimumSystemVersion"`
	}
	if _, err := plist.Unmarshal(info, &ip); err != nil || ip.Min == "" {
		t.Fatalf("Info.plist LSMinimumSystemVersion: %q, %v", ip.Min, err)
	}
	cmd := exec.Command(makeBin, "-n", "app", "HOST_OS=Darwin")
	cmd.Dir = "../../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n app: %v\n%s", err, out)
	}
	var link string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "-o build/bin/energyprofiler-desktop") {
			link = line
		}
	}
	if link == "" {
		t.Fatalf("no desktop build line in:\n%s", out)
	}
	for _, want := range []string{
		`CGO_LDFLAGS="-framework UniformTypeIdentifiers -mmacosx-version-min=` + ip.Min + `"`,
		"MACOSX_DEPLOYMENT_TARGET=" + ip.Min + " ",
		"-tags desktop,production ",
	} {
		if !strings.Contains(link, want) {
			t.Errorf("desktop link line lacks %q:\n%s", want, link)
		}
	}
	// The Linux line must not get macOS linker flags.
	cmd = exec.Command(makeBin, "-n", "app", "HOST_OS=Linux")
	cmd.Dir = "../../.."
	if out, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(out), "UniformTypeIdentifiers") {
		t.Errorf("make -n app HOST_OS=Linux: %v\n%s", err, out)
	}
}

// fakeService is SMAppService as the review found it behaves: registering
// an enabled helper fails.
type fakeService struct {
	status    ServiceStatus
	regErr    error
	after     ServiceStatus // status once Register ran
	registers int
}

func (f *fakeService) Status() ServiceStatus { return f.status }
func (f *fakeService) Register() error {
	f.registers++
	f.status = f.after
	return f.regErr
}

func TestRegisterTreatsEnabledAsInstalled(t *testing.T) {
	already := errors.New("SMAppServiceErrorDomain code 1: Operation not permitted")
	cases := []struct {
		name          string
		svc           fakeService
		want          ServiceStatus
		wantErr       bool
		wantRegisters int
	}{
		{"already enabled: not registered again", fakeService{status: ServiceEnabled, regErr: already, after: ServiceEnabled}, ServiceEnabled, false, 0},
		{"first install", fakeService{status: ServiceNotRegistered, after: ServiceRequiresApproval}, ServiceRequiresApproval, false, 1},
		{"enabled by a race, register fails", fakeService{status: ServiceNotRegistered, regErr: already, after: ServiceEnabled}, ServiceEnabled, false, 1},
		{"waiting for approval, register fails", fakeService{status: ServiceRequiresApproval, regErr: already, after: ServiceRequiresApproval}, ServiceRequiresApproval, false, 1},
		{"unsigned bundle", fakeService{status: ServiceNotRegistered, regErr: errors.New("Codesigning failure"), after: ServiceNotRegistered}, ServiceNotRegistered, true, 1},
	}
	for _, c := range cases {
		st, err := register(&c.svc)
		if st != c.want || (err != nil) != c.wantErr || c.svc.registers != c.wantRegisters {
			t.Errorf("%s: status %v, err %v, %d registrations; want %v, error %v, %d", c.name, st, err, c.svc.registers, c.want, c.wantErr, c.wantRegisters)
		}
	}
}
