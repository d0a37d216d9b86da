//go:build darwin

package power

// The IOReport calls, through purego (no cgo). C signatures as agreed by
// vladkens/macmon, ml-energy/zeus-apple-silicon and context-labs/mactop
// (apple-power.md, section b). CF references are uintptr; CFIndex is int64
// on 64-bit macOS. Ownership follows the Create/Copy rule: we release what
// Copy*/Create* return and never what Get* returns.
//
// This file was written from the note and cross-compiled; it has not been
// run on a Mac in this repository yet.

import (
	"context"
	"fmt"
	"sync"

	"github.com/ebitengine/purego"
)

const (
	ioreportLibPath       = "/usr/lib/libIOReport.dylib"
	coreFoundationPath    = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"
	kCFStringEncodingUTF8 = 0x08000100
	ioreportEnergyGroup   = "Energy Model"
)

type ioreportFuncs struct {
	// CoreFoundation
	CFStringCreateWithCString     func(alloc uintptr, s string, encoding uint32) uintptr
	CFStringGetCString            func(str uintptr, buf *byte, size int64, encoding uint32) bool
	CFRelease                     func(ref uintptr)
	CFDictionaryGetValue          func(dict, key uintptr) uintptr
	CFDictionaryGetCount          func(dict uintptr) int64
	CFDictionaryCreateMutableCopy func(alloc uintptr, capacity int64, dict uintptr) uintptr
	CFArrayGetCount               func(array uintptr) int64
	CFArrayGetValueAtIndex        func(array uintptr, index int64) uintptr

	// IOReport
	CopyChannelsInGroup   func(group, subgroup uintptr, a, b, c uint64) uintptr
	CreateSubscription    func(a uintptr, desired uintptr, subscribed *uintptr, channelID uint64, opts uintptr) uintptr
	CreateSamples         func(sub, channels, opts uintptr) uintptr
	CreateSamplesDelta    func(prev, cur, opts uintptr) uintptr
	ChannelGetChannelName func(channel uintptr) uintptr
	ChannelGetUnitLabel   func(channel uintptr) uintptr
	SimpleGetIntegerValue func(channel uintptr, index int32) int64
}

// loadIOReport dlopens both libraries once per source.
func loadIOReport() (*ioreportFuncs, error) {
	cf, err := purego.Dlopen(coreFoundationPath, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("dlopen CoreFoundation: %w", err)
	}
	ior, err := purego.Dlopen(ioreportLibPath, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("dlopen %s: %w", ioreportLibPath, err)
	}
	f := &ioreportFuncs{}
	binds := []struct {
		lib  uintptr
		fptr any
		name string
	}{
		{cf, &f.CFStringCreateWithCString, "CFStringCreateWithCString"},
		{cf, &f.CFStringGetCString, "CFStringGetCString"},
		{cf, &f.CFRelease, "CFRelease"},
		{cf, &f.CFDictionaryGetValue, "CFDictionaryGetValue"},
		{cf, &f.CFDictionaryGetCount, "CFDictionaryGetCount"},
		{cf, &f.CFDictionaryCreateMutableCopy, "CFDictionaryCreateMutableCopy"},
		{cf, &f.CFArrayGetCount, "CFArrayGetCount"},
		{cf, &f.CFArrayGetValueAtIndex, "CFArrayGetValueAtIndex"},
		{ior, &f.CopyChannelsInGroup, "IOReportCopyChannelsInGroup"},
		{ior, &f.CreateSubscription, "IOReportCreateSubscription"},
		{ior, &f.CreateSamples, "IOReportCreateSamples"},
		{ior, &f.CreateSamplesDelta, "IOReportCreateSamplesDelta"},
		{ior, &f.ChannelGetChannelName, "IOReportChannelGetChannelName"},
		{ior, &f.ChannelGetUnitLabel, "IOReportChannelGetUnitLabel"},
		{ior, &f.SimpleGetIntegerValue, "IOReportSimpleGetIntegerValue"},
	}
	for _, b := range binds {
		sym, err := purego.Dlsym(b.lib, b.name)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", b.name, err)
		}
		purego.RegisterFunc(b.fptr, sym)
	}
	return f, nil
}

// goString copies a CFStringRef (not owned) into Go.
func (f *ioreportFuncs) goString(s uintptr) string {
	if s == 0 {
		return ""
	}
	var buf [256]byte
	if !f.CFStringGetCString(s, &buf[0], int64(len(buf)), kCFStringEncodingUTF8) {
		return ""
	}
	for i, c := range buf {
		if c == 0 {
			return string(buf[:i])
		}
	}
	return string(buf[:])
}

// ioreportSession is a live subscription to the "Energy Model" group.
type ioreportSession struct {
	f        *ioreportFuncs
	channels uintptr // mutable copy of the group's channels (owned)
	sampled  uintptr // the channel dictionary samples are taken with (not owned)
	sub      uintptr // subscription (owned)
	prev     uintptr // last sample (owned)
	keyChans uintptr // CFString "IOReportChannels" (owned)
	group    uintptr // CFString "Energy Model" (owned)
}

func openIOReportSession() (*ioreportSession, error) {
	f, err := loadIOReport()
	if err != nil {
		return nil, err
	}
	s := &ioreportSession{f: f}
	s.group = f.CFStringCreateWithCString(0, ioreportEnergyGroup, kCFStringEncodingUTF8)
	s.keyChans = f.CFStringCreateWithCString(0, "IOReportChannels", kCFStringEncodingUTF8)
	chans := f.CopyChannelsInGroup(s.group, 0, 0, 0, 0)
	if chans == 0 {
		s.close()
		return nil, fmt.Errorf("IOReportCopyChannelsInGroup(%q) returned nothing", ioreportEnergyGroup)
	}
	s.channels = f.CFDictionaryCreateMutableCopy(0, f.CFDictionaryGetCount(chans), chans)
	f.CFRelease(chans)
	if s.channels == 0 {
		s.close()
		return nil, fmt.Errorf("copy the %q channel list failed", ioreportEnergyGroup)
	}
	var subscribed uintptr
	s.sub = f.CreateSubscription(0, s.channels, &subscribed, 0, 0)
	// Samples are taken with the subscribed channels, as mactop and
	// tmc/apple do; macmon passes its own list, the fallback here.
	// subscribed is never released: its ownership is undocumented, and a
	// one-off leak per session is cheaper than a double free.
	s.sampled = subscribed
	if s.sampled == 0 {
		s.sampled = s.channels
	}
	if s.sub == 0 {
		s.close()
		return nil, fmt.Errorf("IOReportCreateSubscription for %q failed", ioreportEnergyGroup)
	}
	s.prev = f.CreateSamples(s.sub, s.sampled, 0)
	if s.prev == 0 {
		s.close()
		return nil, fmt.Errorf("IOReportCreateSamples failed")
	}
	return s, nil
}

// delta takes a new sample and returns the Energy Model channels' changes
// since the previous one.
func (s *ioreportSession) delta() ([]IOReportChannel, error) {
	f := s.f
	cur := f.CreateSamples(s.sub, s.sampled, 0)
	if cur == 0 {
		return nil, fmt.Errorf("IOReportCreateSamples failed")
	}
	d := f.CreateSamplesDelta(s.prev, cur, 0)
	f.CFRelease(s.prev)
	s.prev = cur
	if d == 0 {
		return nil, fmt.Errorf("IOReportCreateSamplesDelta failed")
	}
	defer f.CFRelease(d)
	arr := f.CFDictionaryGetValue(d, s.keyChans)
	if arr == 0 {
		return nil, fmt.Errorf("IOReport delta has no IOReportChannels")
	}
	n := f.CFArrayGetCount(arr)
	out := make([]IOReportChannel, 0, 8)
	for i := int64(0); i < n; i++ {
		ch := f.CFArrayGetValueAtIndex(arr, i)
		if ch == 0 {
			continue
		}
		name := f.goString(f.ChannelGetChannelName(ch))
		if _, ok := ioreportDomain(name); !ok {
			continue // skip the unit lookup for the ~300 channels we ignore
		}
		out = append(out, IOReportChannel{
			Name:  name,
			Unit:  f.goString(f.ChannelGetUnitLabel(ch)),
			Value: f.SimpleGetIntegerValue(ch, 0),
		})
	}
	return out, nil
}

func (s *ioreportSession) close() {
	f := s.f
	for _, ref := range []*uintptr{&s.prev, &s.sub, &s.channels, &s.keyChans, &s.group} {
		if *ref != 0 {
			f.CFRelease(*ref)
			*ref = 0
		}
	}
}

func (s *IOReport) Availability() Availability {
	sess, err := openIOReportSession()
	if err != nil {
		return unavailable("IOReport energy counters are not readable: "+err.Error(),
			"needs an Apple Silicon Mac (macOS 12 or later); on an Intel Mac use powermetrics (--power powermetrics)")
	}
	sess.close()
	return available()
}

func (s *IOReport) Open(ctx context.Context) (Reader, error) {
	sess, err := openIOReportSession()
	if err != nil {
		return nil, unavailableError(s.Name(), unavailable("IOReport: "+err.Error(),
			"needs an Apple Silicon Mac (macOS 12 or later)"))
	}
	return &ioreportReader{src: s, sess: sess, prevT: s.now()}, nil
}

// ioreportReader keeps all IOReport calls on whichever goroutine calls
// Read (the sampler's); the mutex only guards Close racing a Read.
type ioreportReader struct {
	src   *IOReport
	mu    sync.Mutex
	sess  *ioreportSession
	prevT int64
}

func (r *ioreportReader) Read() (Sample, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sess == nil {
		return Sample{}, fmt.Errorf("ioreport: reader closed")
	}
	chans, err := r.sess.delta()
	t1 := r.src.now()
	t0 := r.prevT
	r.prevT = t1
	if err != nil {
		return Sample{}, fmt.Errorf("ioreport: %w", err)
	}
	return ioreportSample(t0, t1, chans), nil
}

func (r *ioreportReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sess != nil {
		r.sess.close()
		r.sess = nil
	}
	return nil
}
