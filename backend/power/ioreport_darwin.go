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
	"fmt"

	"github.com/ebitengine/purego"
)

const (
	ioreportLibPath       = "/usr/lib/libIOReport.dylib"
	coreFoundationPath    = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"
	kCFStringEncodingUTF8 = 0x08000100
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
	CFArrayCreateMutable          func(alloc uintptr, capacity int64, callbacks uintptr) uintptr
	CFArrayAppendValue            func(array, value uintptr)
	CFDictionarySetValue          func(dict, key, value uintptr)
	typeArrayCallBacks            uintptr // &kCFTypeArrayCallBacks

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
		{cf, &f.CFArrayCreateMutable, "CFArrayCreateMutable"},
		{cf, &f.CFArrayAppendValue, "CFArrayAppendValue"},
		{cf, &f.CFDictionarySetValue, "CFDictionarySetValue"},
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
	// A data symbol: Dlsym gives the struct's address, which is what
	// CFArrayCreateMutable takes.
	if f.typeArrayCallBacks, err = purego.Dlsym(cf, "kCFTypeArrayCallBacks"); err != nil {
		return nil, fmt.Errorf("resolve kCFTypeArrayCallBacks: %w", err)
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

// cfString makes an owned CFString.
func (f *ioreportFuncs) cfString(s string) uintptr {
	return f.CFStringCreateWithCString(0, s, kCFStringEncodingUTF8)
}

// energyChannels copies the Energy Model group's description (owned) and
// returns it with its channel array (inside it, not owned) and the names.
func (f *ioreportFuncs) energyChannels() (desc, arr uintptr, names []string, err error) {
	group, key := f.cfString(ioreportEnergyGroup), f.cfString("IOReportChannels")
	defer f.CFRelease(group)
	defer f.CFRelease(key)
	desc = f.CopyChannelsInGroup(group, 0, 0, 0, 0)
	if desc == 0 {
		return 0, 0, nil, fmt.Errorf("IOReportCopyChannelsInGroup(%q) returned nothing", ioreportEnergyGroup)
	}
	arr = f.CFDictionaryGetValue(desc, key)
	if arr == 0 {
		f.CFRelease(desc)
		return 0, 0, nil, fmt.Errorf("the %q description has no IOReportChannels", ioreportEnergyGroup)
	}
	n := f.CFArrayGetCount(arr)
	for i := int64(0); i < n; i++ {
		names = append(names, f.goString(f.ChannelGetChannelName(f.CFArrayGetValueAtIndex(arr, i))))
	}
	return desc, arr, names, nil
}

// ioreportChannelNames lists the Energy Model channels for the availability
// probe, without subscribing.
func ioreportChannelNames() ([]string, Availability) {
	f, err := loadIOReport()
	if err != nil {
		return nil, unavailable("IOReport energy counters are not readable: "+err.Error(), ioreportFix)
	}
	desc, _, names, err := f.energyChannels()
	if err != nil {
		return nil, unavailable("IOReport energy counters are not readable: "+err.Error(), ioreportFix)
	}
	f.CFRelease(desc)
	return names, available()
}

// ioreportSession is a live subscription to the wanted Energy Model
// channels.
type ioreportSession struct {
	f        *ioreportFuncs
	channels uintptr // the filtered channel description we subscribed with (owned)
	sampled  uintptr // the channel dictionary samples are taken with (not owned)
	sub      uintptr // subscription (owned)
	prev     uintptr // the baseline sample (owned)
	keyChans uintptr // CFString "IOReportChannels" (owned)
}

func openIOReportSession() (ioreportDeltas, error) {
	f, err := loadIOReport()
	if err != nil {
		return nil, err
	}
	s := &ioreportSession{f: f, keyChans: f.cfString("IOReportChannels")}
	desc, arr, names, err := f.energyChannels()
	if err != nil {
		s.close()
		return nil, err
	}
	keep := ioreportWanted(names)
	if len(keep) == 0 {
		f.CFRelease(desc)
		s.close()
		return nil, fmt.Errorf("no CPU, GPU, ANE or DRAM channel among %d", len(names))
	}
	// A copy of the description whose IOReportChannels holds only the kept
	// channels (lablup/all-smi channel_filter.rs does the same).
	kept := f.CFArrayCreateMutable(0, int64(len(keep)), f.typeArrayCallBacks)
	for _, i := range keep {
		f.CFArrayAppendValue(kept, f.CFArrayGetValueAtIndex(arr, int64(i)))
	}
	s.channels = f.CFDictionaryCreateMutableCopy(0, 0, desc)
	f.CFRelease(desc)
	if s.channels == 0 || kept == 0 {
		if kept != 0 {
			f.CFRelease(kept)
		}
		s.close()
		return nil, fmt.Errorf("copy the %q channel list failed", ioreportEnergyGroup)
	}
	f.CFDictionarySetValue(s.channels, s.keyChans, kept) // retains kept
	f.CFRelease(kept)

	var subscribed uintptr
	s.sub = f.CreateSubscription(0, s.channels, &subscribed, 0, 0)
	// Samples are taken with the subscribed channels, as mactop and
	// tmc/apple do; macmon passes its own list, the fallback here.
	// subscribed is never released: its ownership is undocumented, and a
	// one-off leak per session (not per probe: Availability does not
	// subscribe) is cheaper than a double free.
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

// delta implements ioreportDeltas.
func (s *ioreportSession) delta(now func() int64) (chans []IOReportChannel, at int64, rebased bool, err error) {
	f := s.f
	cur := f.CreateSamples(s.sub, s.sampled, 0)
	at = now()
	if cur == 0 {
		return nil, at, false, fmt.Errorf("IOReportCreateSamples failed; the next reading covers this interval too")
	}
	d := f.CreateSamplesDelta(s.prev, cur, 0)
	f.CFRelease(s.prev)
	s.prev = cur
	if d == 0 {
		return nil, at, true, fmt.Errorf("IOReportCreateSamplesDelta failed; this interval has no reading")
	}
	defer f.CFRelease(d)
	arr := f.CFDictionaryGetValue(d, s.keyChans)
	if arr == 0 {
		return nil, at, true, fmt.Errorf("IOReport delta has no IOReportChannels")
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
			continue
		}
		out = append(out, IOReportChannel{
			Name:  name,
			Unit:  f.goString(f.ChannelGetUnitLabel(ch)),
			Value: f.SimpleGetIntegerValue(ch, 0),
		})
	}
	return out, at, true, nil
}

func (s *ioreportSession) close() {
	f := s.f
	for _, ref := range []*uintptr{&s.prev, &s.sub, &s.channels, &s.keyChans} {
		if *ref != 0 {
			f.CFRelease(*ref)
			*ref = 0
		}
	}
}
