// Package installer installs and removes the powermetrics helper on macOS:
// SMAppService registration (macOS 13+) through purego, and the osascript
// LaunchDaemon fallback. It is separate from package helper so the root
// daemon links no Objective-C runtime.
package installer

import (
	"energyprofiler/backend/helper"
	"errors"
	"fmt"
	"strings"

	"howett.net/plist"
)

// Where the osascript fallback installs the helper. The binary is copied out
// of the app bundle into a root-owned directory, because a bundle in
// ~/Applications is writable by the user and root must not run a file the
// user can replace.
const (
	InstalledHelperPath   = "/Library/PrivilegedHelperTools/" + helper.Label
	LaunchDaemonPlistPath = "/Library/LaunchDaemons/" + helper.PlistName
	HelperLogPath         = "/var/log/" + helper.Label + ".log"
)

// ErrNeedsMacOS is returned by installation on other systems.
var ErrNeedsMacOS = errors.New("the powermetrics helper can only be installed on macOS (powermetrics is a macOS tool)")

// launchDaemon is the plist launchd reads for the fallback install.
type launchDaemon struct {
	Label             string   `plist:"Label"`
	ProgramArguments  []string `plist:"ProgramArguments"`
	RunAtLoad         bool     `plist:"RunAtLoad"`
	KeepAlive         bool     `plist:"KeepAlive"`
	StandardErrorPath string   `plist:"StandardErrorPath"`
}

// LaunchDaemonPlist is the /Library/LaunchDaemons plist for the osascript
// fallback: the copied helper, serving socket.
func LaunchDaemonPlist(socket string) ([]byte, error) {
	if socket == "" {
		socket = helper.DefaultSocketPath
	}
	if !strings.HasPrefix(socket, "/") {
		return nil, fmt.Errorf("launch daemon plist: socket path %q must be absolute", socket)
	}
	b, err := plist.MarshalIndent(launchDaemon{
		Label:             helper.Label,
		ProgramArguments:  []string{InstalledHelperPath, "--socket", socket},
		RunAtLoad:         true,
		KeepAlive:         true,
		StandardErrorPath: HelperLogPath,
	}, plist.XMLFormat, "  ")
	if err != nil {
		return nil, fmt.Errorf("launch daemon plist: %w", err)
	}
	return b, nil
}

// InstallScript is the shell script the osascript admin prompt runs as root:
// copy the bundle's helper to a root-owned path, write the plist, and
// (re)load the daemon. Every path is single-quoted; the plist travels inside
// the script, so no temp file a user could swap is involved.
func InstallScript(bundleHelper, socket string) (string, error) {
	if !strings.HasPrefix(bundleHelper, "/") {
		return "", fmt.Errorf("install script: helper binary path %q must be absolute", bundleHelper)
	}
	pl, err := LaunchDaemonPlist(socket)
	if err != nil {
		return "", err
	}
	lines := []string{
		"set -e",
		"/bin/mkdir -p /Library/PrivilegedHelperTools",
		"/usr/bin/install -o root -g wheel -m 0755 " + ShellQuote(bundleHelper) + " " + ShellQuote(InstalledHelperPath),
		"/usr/bin/printf '%s\\n' " + ShellQuote(string(pl)) + " > " + ShellQuote(LaunchDaemonPlistPath),
		"/usr/sbin/chown root:wheel " + ShellQuote(LaunchDaemonPlistPath),
		"/bin/chmod 0644 " + ShellQuote(LaunchDaemonPlistPath),
		"/bin/launchctl bootout system/" + helper.Label + " 2>/dev/null || true",
		"/bin/launchctl bootstrap system " + ShellQuote(LaunchDaemonPlistPath),
	}
	return strings.Join(lines, "\n"), nil
}

// UninstallScript undoes InstallScript.
func UninstallScript(socket string) string {
	if socket == "" {
		socket = helper.DefaultSocketPath
	}
	return strings.Join([]string{
		"/bin/launchctl bootout system/" + helper.Label + " 2>/dev/null || true",
		"/bin/rm -f " + ShellQuote(LaunchDaemonPlistPath) + " " + ShellQuote(InstalledHelperPath) + " " + ShellQuote(socket),
	}, "\n")
}

// ShellQuote quotes s as one /bin/sh word.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// AdminAppleScript wraps a shell script in the AppleScript that asks for an
// administrator's password and runs it as root:
// osascript -e <this>.
func AdminAppleScript(shellScript, prompt string) string {
	return `do shell script "` + appleScriptEscape(shellScript) + `" with prompt "` + appleScriptEscape(prompt) + `" with administrator privileges`
}

func appleScriptEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
}

// ServiceStatus is SMAppService's status of the helper daemon.
type ServiceStatus int

// The values of SMAppServiceStatus (ServiceManagement/SMAppService.h).
const (
	ServiceNotRegistered    ServiceStatus = 0
	ServiceEnabled          ServiceStatus = 1
	ServiceRequiresApproval ServiceStatus = 2
	ServiceNotFound         ServiceStatus = 3
)

func (s ServiceStatus) String() string {
	switch s {
	case ServiceNotRegistered:
		return "not registered"
	case ServiceEnabled:
		return "enabled"
	case ServiceRequiresApproval:
		return "registered, waiting for approval in System Settings › General › Login Items"
	case ServiceNotFound:
		return "not found (the app bundle has no Contents/Library/LaunchDaemons/" + helper.PlistName + ")"
	}
	return fmt.Sprintf("unknown status %d", int(s))
}

// service is the part of SMAppService that registration needs; the darwin
// code wraps the real object, tests a fake.
type service interface {
	Status() ServiceStatus
	Register() error
}

// register registers svc unless it is already enabled, and returns the
// status it ends in. A helper that is enabled is installed: registering it
// again fails, and the caller's fallback (the admin-prompt LaunchDaemon)
// would then boot the SMAppService job out and install a second daemon with
// the same label. A failed registration that leaves the helper enabled or
// waiting for the user's approval is not an error either.
func register(svc service) (ServiceStatus, error) {
	if st := svc.Status(); st == ServiceEnabled {
		return st, nil
	}
	err := svc.Register()
	st := svc.Status()
	if err == nil || st == ServiceEnabled || st == ServiceRequiresApproval {
		return st, nil
	}
	return st, fmt.Errorf("register the powermetrics helper with SMAppService: %w", err)
}
