//go:build darwin

package installer

import (
	"context"
	"energyprofiler/backend/helper"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/ebitengine/purego/objc"
)

// ErrNoSMAppService means this macOS is older than 13; use the osascript
// LaunchDaemon fallback.
var ErrNoSMAppService = errors.New("SMAppService needs macOS 13 or later; use --method launchdaemon")

// smAppService runs fn with the helper's SMAppService object
// (+[SMAppService daemonServiceWithPlistName:]) inside an autorelease pool
// on a locked thread. SMAppService finds the plist in the *main bundle's*
// Contents/Library/LaunchDaemons, so the calling binary must be inside
// Energy Profiler.app/Contents/MacOS.
func smAppService(fn func(svc objc.ID) error) error {
	if _, err := purego.Dlopen("/System/Library/Frameworks/ServiceManagement.framework/ServiceManagement", purego.RTLD_GLOBAL|purego.RTLD_NOW); err != nil {
		return fmt.Errorf("load ServiceManagement.framework: %w", err)
	}
	if _, err := purego.Dlopen("/System/Library/Frameworks/Foundation.framework/Foundation", purego.RTLD_GLOBAL|purego.RTLD_NOW); err != nil {
		return fmt.Errorf("load Foundation.framework: %w", err)
	}
	cls := objc.GetClass("SMAppService")
	if cls == 0 {
		return ErrNoSMAppService
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pool := objc.ID(objc.GetClass("NSAutoreleasePool")).Send(objc.RegisterName("alloc")).Send(objc.RegisterName("init"))
	defer pool.Send(objc.RegisterName("drain"))

	name := objc.ID(objc.GetClass("NSString")).Send(objc.RegisterName("stringWithUTF8String:"), helper.PlistName)
	svc := objc.ID(cls).Send(objc.RegisterName("daemonServiceWithPlistName:"), name)
	if svc == 0 {
		return fmt.Errorf("SMAppService daemonServiceWithPlistName:%s returned nil", helper.PlistName)
	}
	return fn(svc)
}

// RegisterDaemon registers the helper with launchd through SMAppService
// (macOS 13+) and returns the resulting status. ServiceRequiresApproval
// means the user must switch it on in System Settings › General › Login
// Items (OpenLoginItemsSettings opens that pane). It needs a Developer
// ID-signed bundle: an unsigned one fails with "Codesigning failure" (see
// docs/macos.md).
func RegisterDaemon() (ServiceStatus, error) {
	var st ServiceStatus
	err := smAppService(func(svc objc.ID) error {
		var err error
		st, err = register(smService(svc))
		return err
	})
	return st, err
}

// smService is the SMAppService object as a service.
type smService objc.ID

func (s smService) Status() ServiceStatus {
	return ServiceStatus(objc.Send[int](objc.ID(s), objc.RegisterName("status")))
}

func (s smService) Register() error { return callWithNSError(objc.ID(s), "registerAndReturnError:") }

// UnregisterDaemon removes the SMAppService registration.
func UnregisterDaemon() error {
	return smAppService(func(svc objc.ID) error {
		if err := callWithNSError(svc, "unregisterAndReturnError:"); err != nil {
			return fmt.Errorf("unregister the powermetrics helper from SMAppService: %w", err)
		}
		return nil
	})
}

// DaemonStatus is SMAppService's view of the helper.
func DaemonStatus() (ServiceStatus, error) {
	var st ServiceStatus
	err := smAppService(func(svc objc.ID) error {
		st = ServiceStatus(objc.Send[int](svc, objc.RegisterName("status")))
		return nil
	})
	return st, err
}

// OpenLoginItemsSettings opens System Settings › General › Login Items,
// where the user approves the helper.
func OpenLoginItemsSettings() error {
	return smAppService(func(objc.ID) error {
		objc.ID(objc.GetClass("SMAppService")).Send(objc.RegisterName("openSystemSettingsLoginItems"))
		return nil
	})
}

// callWithNSError sends a `-(BOOL)xxxAndReturnError:(NSError **)` message
// and turns a NO into a Go error carrying the NSError's domain, code and
// description.
func callWithNSError(obj objc.ID, selector string) error {
	var nserr objc.ID
	if objc.Send[bool](obj, objc.RegisterName(selector), unsafe.Pointer(&nserr)) {
		return nil
	}
	if nserr == 0 {
		return fmt.Errorf("%s failed without an NSError", selector)
	}
	domain := goString(nserr.Send(objc.RegisterName("domain")))
	code := objc.Send[int](nserr, objc.RegisterName("code"))
	desc := goString(nserr.Send(objc.RegisterName("localizedDescription")))
	return fmt.Errorf("%s code %d: %s", domain, code, desc)
}

// goString copies an NSString into Go.
func goString(s objc.ID) string {
	if s == 0 {
		return ""
	}
	p := objc.Send[*byte](s, objc.RegisterName("UTF8String"))
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// InstallLaunchDaemon is the fallback for macOS 12, or an unsigned build:
// it asks for an administrator password (osascript) and installs
// bundleHelper as a root LaunchDaemon serving socket.
func InstallLaunchDaemon(ctx context.Context, bundleHelper, socket string) error {
	script, err := InstallScript(bundleHelper, socket)
	if err != nil {
		return err
	}
	return runAsAdmin(ctx, script, "Energy Profiler wants to install its powermetrics helper.")
}

// UninstallLaunchDaemon removes what InstallLaunchDaemon installed.
func UninstallLaunchDaemon(ctx context.Context, socket string) error {
	return runAsAdmin(ctx, UninstallScript(socket), "Energy Profiler wants to remove its powermetrics helper.")
}

func runAsAdmin(ctx context.Context, script, prompt string) error {
	// osascript gets the AppleScript as one argv word: no shell on our side.
	out, err := exec.CommandContext(ctx, "/usr/bin/osascript", "-e", AdminAppleScript(script, prompt)).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "-128") {
			return fmt.Errorf("administrator prompt cancelled; nothing was changed")
		}
		return fmt.Errorf("run as administrator: %v: %s", err, msg)
	}
	return nil
}
