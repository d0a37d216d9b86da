// Package helperpower connects the powermetrics helper's client to the power
// package: Helper implements power.PowermetricsHelper, so
//
//	power.Options{Powermetrics: power.PowermetricsOptions{Helper: helperpower.New("")}}
//
// makes the powermetrics source read from the installed helper instead of
// sudo. It lives apart from package helper so the root daemon does not link
// the power package.
package helperpower

import (
	"context"
	"fmt"
	"io"
	"time"

	"energyprofiler/backend/helper"
	"energyprofiler/backend/power"
)

// ProbeTimeout bounds the STATUS round trip Availability makes.
const ProbeTimeout = 2 * time.Second

// Helper reaches the helper at Socket.
type Helper struct {
	Socket string
}

// New returns a Helper for socket ("" means helper.DefaultSocketPath).
func New(socket string) *Helper {
	if socket == "" {
		socket = helper.DefaultSocketPath
	}
	return &Helper{Socket: socket}
}

var _ power.PowermetricsHelper = (*Helper)(nil)

const installFix = "install the helper: run '/Applications/Energy Profiler.app/Contents/MacOS/energyprofiler helper install' " +
	"and approve it in System Settings › General › Login Items; check with 'energyprofiler helper status'"

// Availability asks the helper for its status. It is available when it
// answers and runs as root (powermetrics refuses anyone else).
func (h *Helper) Availability() power.Availability {
	ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
	defer cancel()
	c, err := helper.Dial(ctx, h.Socket)
	if err != nil {
		return power.Availability{Reason: "the powermetrics helper is not running at " + h.Socket, Fix: installFix}
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return power.Availability{Reason: fmt.Sprintf("the powermetrics helper at %s did not answer: %v", h.Socket, err), Fix: installFix}
	}
	if st.HelperUID != 0 {
		return power.Availability{
			Reason: fmt.Sprintf("the powermetrics helper at %s runs as uid %d, not root, so powermetrics will refuse to start", h.Socket, st.HelperUID),
			Fix:    "uninstall and reinstall it ('energyprofiler helper uninstall', then 'energyprofiler helper install') so launchd runs it as root",
		}
	}
	return power.Availability{Available: true}
}

// Stream starts powermetrics at intervalMs (the helper clamps it to
// 100–10000 ms) and returns its raw plist output. Closing it, or ending ctx,
// stops powermetrics.
func (h *Helper) Stream(ctx context.Context, intervalMs int) (io.ReadCloser, error) {
	rc, _, err := helper.Stream(ctx, h.Socket, time.Duration(max(intervalMs, 0))*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("powermetrics helper: %w", err)
	}
	return rc, nil
}
