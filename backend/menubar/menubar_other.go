//go:build !darwin

package menubar

import (
	"context"
	"errors"
	"fmt"
)

// statusItemSupported: there is no status item outside macOS.
const statusItemSupported = false

// Bar is the running status item. Outside macOS there is none: Start returns
// a nil *Bar, whose methods do nothing, so callers need no build tags.
type Bar struct{}

// Start reports errors.ErrUnsupported: the status item is macOS-only (a
// Linux tray is optional in the product and not built).
func Start(ctx context.Context, opts Options) (*Bar, error) {
	return nil, fmt.Errorf("status item: only on macOS: %w", errors.ErrUnsupported)
}

// Refresh does nothing outside macOS.
func (b *Bar) Refresh() {}

// SetDockIconVisible does nothing outside macOS.
func (b *Bar) SetDockIconVisible(visible bool) {}

// Close does nothing outside macOS.
func (b *Bar) Close() {}
