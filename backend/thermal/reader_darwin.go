//go:build darwin

package thermal

import (
	"context"
	"os/exec"
	"sync"
	"time"

	"github.com/ebitengine/purego"
	"github.com/ebitengine/purego/objc"
)

// Reader reads this machine's state: the thermal state from
// -[NSProcessInfo thermalState] (Foundation, loaded once per Reader) and the
// power source from `pmset -g ps`.
type Reader struct {
	once        sync.Once
	processInfo objc.ID // 0 when Foundation could not be loaded
	loadErr     string
}

// NewReader returns a Reader for this machine.
func NewReader() *Reader { return &Reader{} }

func (r *Reader) load() {
	if _, err := purego.Dlopen("/System/Library/Frameworks/Foundation.framework/Foundation", purego.RTLD_NOW|purego.RTLD_GLOBAL); err != nil {
		r.loadErr = "thermal state: load Foundation: " + err.Error()
		return
	}
	cls := objc.GetClass("NSProcessInfo")
	if cls == 0 {
		r.loadErr = "thermal state: no NSProcessInfo class"
		return
	}
	r.processInfo = objc.ID(cls).Send(objc.RegisterName("processInfo"))
}

// Read returns the state now.
func (r *Reader) Read() State {
	var s State
	r.once.Do(r.load)
	if r.processInfo != 0 {
		s.Pressure = PressureName(objc.Send[int](r.processInfo, objc.RegisterName("thermalState")))
	} else {
		s.Unreadable = append(s.Unreadable, r.loadErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/pmset", "-g", "ps").Output()
	if err == nil {
		var b bool
		if b, err = ParsePmset(string(out)); err == nil {
			s.OnBattery = &b
		}
	}
	if err != nil {
		s.Unreadable = append(s.Unreadable, "power source: "+err.Error())
	}
	return s
}
