//go:build !darwin

package installer

import "context"

// RegisterDaemon is macOS-only.
func RegisterDaemon() (ServiceStatus, error) { return ServiceNotRegistered, ErrNeedsMacOS }

// UnregisterDaemon is macOS-only.
func UnregisterDaemon() error { return ErrNeedsMacOS }

// DaemonStatus is macOS-only.
func DaemonStatus() (ServiceStatus, error) { return ServiceNotRegistered, ErrNeedsMacOS }

// OpenLoginItemsSettings is macOS-only.
func OpenLoginItemsSettings() error { return ErrNeedsMacOS }

// InstallLaunchDaemon is macOS-only.
func InstallLaunchDaemon(ctx context.Context, bundleHelper, socket string) error {
	return ErrNeedsMacOS
}

// UninstallLaunchDaemon is macOS-only.
func UninstallLaunchDaemon(ctx context.Context, socket string) error { return ErrNeedsMacOS }
