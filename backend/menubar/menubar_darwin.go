//go:build darwin

package menubar

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/ebitengine/purego"
	"github.com/ebitengine/purego/objc"
)

// targetClassName is the Objective-C class whose instance receives menu
// clicks and main-thread work. Class names are process-wide, so it is
// registered once, by the first Start; a second Start is refused.
const targetClassName = "EPStatusItemTarget"

// statusItemSupported: macOS has the status item, so the window may start
// hidden and hide on close (see WindowBehaviour).
const statusItemSupported = true

// variableStatusItemLength is NSVariableStatusItemLength, a CGFloat.
const variableStatusItemLength = -1.0

// Bar is the running status item.
//
// Threading: AppKit objects are touched only on the main thread. Every change
// is queued as a Go func and run by the target's drainQueue: method, which
// is scheduled with performSelectorOnMainThread:withObject:waitUntilDone:.
// That method queues in the run loop's common modes, so — unlike a block on
// the main dispatch queue — title updates keep flowing while the menu is
// open. It needs no purego callback per call: the only callbacks this
// package makes are the target class's methods, once per process.
type Bar struct {
	ctrl   *Controller
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	target objc.ID // our target instance; retained for the process
	sel    selectors

	mu        sync.Mutex
	queue     []func() // main-thread work
	scheduled bool     // a drainQueue: is pending on the main thread

	// Main thread only:
	item objc.ID    // the retained NSStatusItem
	book menuBook   // what each drawn NSMenuItem stands for; no redraw while open
	dock dockPolicy // Dock icon while the window is up
}

var _ Renderer = (*Bar)(nil)

type selectors struct {
	alloc, init, release, retain, drain               objc.SEL
	sharedApplication, setActivationPolicy, activate  objc.SEL
	systemStatusBar, statusItemWithLength, removeItem objc.SEL
	button, setTitle, setToolTip, setMenu             objc.SEL
	stringWithUTF8String                              objc.SEL
	initWithTitle, initItem, separatorItem, addItem   objc.SEL
	setTag, setEnabled, setTarget, setSubmenu         objc.SEL
	setAutoenablesItems, performOnMain, setDelegate   objc.SEL
	defaultCenter, addObserver                        objc.SEL
	onMenu, drainQueue, appDidHide                    objc.SEL
	menuWillOpen, menuDidClose                        objc.SEL
}

func newSelectors() selectors {
	s := objc.RegisterName
	return selectors{
		alloc: s("alloc"), init: s("init"), release: s("release"), retain: s("retain"), drain: s("drain"),
		sharedApplication: s("sharedApplication"), setActivationPolicy: s("setActivationPolicy:"),
		activate:        s("activateIgnoringOtherApps:"),
		systemStatusBar: s("systemStatusBar"), statusItemWithLength: s("statusItemWithLength:"),
		removeItem: s("removeStatusItem:"),
		button:     s("button"), setTitle: s("setTitle:"), setToolTip: s("setToolTip:"), setMenu: s("setMenu:"),
		stringWithUTF8String: s("stringWithUTF8String:"),
		initWithTitle:        s("initWithTitle:"), initItem: s("initWithTitle:action:keyEquivalent:"),
		separatorItem: s("separatorItem"), addItem: s("addItem:"),
		setTag: s("setTag:"), setEnabled: s("setEnabled:"), setTarget: s("setTarget:"),
		setSubmenu: s("setSubmenu:"), setAutoenablesItems: s("setAutoenablesItems:"),
		performOnMain: s("performSelectorOnMainThread:withObject:waitUntilDone:"),
		setDelegate:   s("setDelegate:"),
		defaultCenter: s("defaultCenter"), addObserver: s("addObserver:selector:name:object:"),
		onMenu: s("epMenuClicked:"), drainQueue: s("epDrainQueue:"), appDidHide: s("epAppDidHide:"),
		// NSMenuDelegate: the target is every menu's delegate.
		menuWillOpen: s("menuWillOpen:"), menuDidClose: s("menuDidClose:"),
	}
}

// Start creates the status item and updates it until ctx ends or Close is
// called. Call it once per process, from any goroutine (Wails' OnStartup is
// fine: nothing here runs AppKit off the main thread). It also switches the
// app to the accessory activation policy (no Dock icon), which Wails v2
// resets to regular while launching.
func Start(ctx context.Context, opts Options) (*Bar, error) {
	if _, err := purego.Dlopen("/System/Library/Frameworks/AppKit.framework/AppKit", purego.RTLD_GLOBAL|purego.RTLD_NOW); err != nil {
		return nil, fmt.Errorf("status item: load AppKit: %w", err)
	}
	if objc.GetClass(targetClassName) != 0 {
		return nil, errors.New("status item: already started in this process (menubar.Start may be called once)")
	}
	b := &Bar{sel: newSelectors(), done: make(chan struct{})}
	cls, err := objc.RegisterClass(targetClassName, objc.GetClass("NSObject"), nil, nil, []objc.MethodDef{
		{Cmd: b.sel.onMenu, Fn: func(self objc.ID, cmd objc.SEL, sender objc.ID) { b.menuClicked(sender) }},
		{Cmd: b.sel.drainQueue, Fn: func(self objc.ID, cmd objc.SEL, arg objc.ID) { b.drainQueue() }},
		{Cmd: b.sel.appDidHide, Fn: func(self objc.ID, cmd objc.SEL, note objc.ID) { b.appHidden() }},
		{Cmd: b.sel.menuWillOpen, Fn: func(self objc.ID, cmd objc.SEL, menu objc.ID) { b.book.opened() }},
		{Cmd: b.sel.menuDidClose, Fn: func(self objc.ID, cmd objc.SEL, menu objc.ID) { b.menuClosed() }},
	})
	if err != nil {
		return nil, fmt.Errorf("status item: register %s: %w", targetClassName, err)
	}
	// alloc/init returns a +1 reference we never release: the class's
	// methods close over b, and the object lives as long as the process.
	b.target = objc.ID(cls).Send(b.sel.alloc).Send(b.sel.init)

	b.ctrl = NewController(opts, b)
	ctx, b.cancel = context.WithCancel(ctx)
	b.onMain(b.create)
	go func() {
		defer close(b.done)
		b.ctrl.Run(ctx)
	}()
	go func() {
		// Wails' AppDelegate sets the regular policy in
		// applicationWillFinishLaunching; set accessory again once the launch
		// has certainly finished.
		select {
		case <-time.After(time.Second):
			b.onMain(func() { b.setPolicy(b.dock.launched()) })
		case <-ctx.Done():
		}
	}()
	return b, nil
}

// Refresh re-reads the recent runs and power status now (call it when a run
// is stored).
func (b *Bar) Refresh() {
	if b != nil {
		b.ctrl.Refresh()
	}
}

// SetDockIconVisible switches between the regular (Dock icon, app menu) and
// accessory (menu bar only) policies. The app calls it with true when it
// shows the dashboard window, so Cmd-Tab finds the window; the Dock icon
// goes away again by itself when the window is closed, which with Wails'
// HideWindowOnClose hides the app (NSApplicationDidHideNotification).
func (b *Bar) SetDockIconVisible(visible bool) {
	if b == nil {
		return
	}
	b.onMain(func() {
		var policy int
		var change bool
		if visible {
			policy, change = b.dock.windowShown()
		} else {
			policy, change = b.dock.appHidden()
		}
		if change {
			b.setPolicy(policy)
		}
	})
}

// appHidden runs on the main thread when the app was hidden: the window is
// gone from the screen, so is the Dock icon.
func (b *Bar) appHidden() {
	if policy, change := b.dock.appHidden(); change {
		b.setPolicy(policy)
	}
}

// Close stops the updates and removes the status item. It may be called
// more than once and from any goroutine.
func (b *Bar) Close() {
	if b == nil {
		return
	}
	b.once.Do(func() {
		b.cancel()
		<-b.done
		b.onMain(b.remove)
	})
}

// SetTitle implements Renderer.
func (b *Bar) SetTitle(title string) {
	b.onMain(func() {
		if b.item == 0 {
			return
		}
		b.item.Send(b.sel.button).Send(b.sel.setTitle, b.nsString(title))
	})
}

// SetMenu implements Renderer. A menu that is open is not replaced: the
// new one is drawn when it closes (see menuBook).
func (b *Bar) SetMenu(items []Item) {
	b.onMain(func() {
		if b.item != 0 && b.book.request(items) {
			b.drawMenu(items)
		}
	})
}

// drawMenu installs a new menu on the main thread. The book keeps our +1
// reference to each menu until it drops the menu, so the NSMenuItem
// addresses it maps stay valid while a click from them may still arrive.
func (b *Bar) drawMenu(items []Item) {
	senders := make(map[uintptr]Item)
	menu := b.buildMenu("Energy Profiler", items, senders)
	menu.Send(b.sel.setDelegate, b.target)
	b.item.Send(b.sel.setMenu, menu)
	for _, old := range b.book.drawn(uintptr(menu), senders) {
		objc.ID(old).Send(b.sel.release)
	}
}

// menuClosed runs on the main thread (menuDidClose:) and draws the menu
// that waited for it.
func (b *Bar) menuClosed() {
	if items, redraw := b.book.closed(); redraw && b.item != 0 {
		b.drawMenu(items)
	}
}

// onMain queues fn for the main thread and makes sure a drain is scheduled.
func (b *Bar) onMain(fn func()) {
	b.mu.Lock()
	b.queue = append(b.queue, fn)
	schedule := !b.scheduled
	b.scheduled = true
	b.mu.Unlock()
	if !schedule {
		return
	}
	// Our goroutine's thread has no autorelease pool; give the call one, on
	// a locked thread because pools belong to threads.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pool := b.newPool()
	b.target.Send(b.sel.performOnMain, b.sel.drainQueue, objc.ID(0), false)
	pool.Send(b.sel.drain)
}

// drainQueue runs on the main thread (the target's epDrainQueue: method).
func (b *Bar) drainQueue() {
	pool := b.newPool()
	defer pool.Send(b.sel.drain)
	b.mu.Lock()
	q := b.queue
	b.queue = nil
	b.scheduled = false
	b.mu.Unlock()
	for _, fn := range q {
		fn()
	}
}

func (b *Bar) newPool() objc.ID {
	return objc.ID(objc.GetClass("NSAutoreleasePool")).Send(b.sel.alloc).Send(b.sel.init)
}

// create runs on the main thread, first in the queue.
func (b *Bar) create() {
	b.setPolicy(b.dock.launched())
	bar := objc.ID(objc.GetClass("NSStatusBar")).Send(b.sel.systemStatusBar)
	item := bar.Send(b.sel.statusItemWithLength, float64(variableStatusItemLength))
	if item == 0 {
		return
	}
	// statusItemWithLength: returns an autoreleased item that vanishes from
	// the menu bar once released; keep our own reference.
	b.item = item.Send(b.sel.retain)
	btn := item.Send(b.sel.button)
	btn.Send(b.sel.setTitle, b.nsString("⚡ …"))
	btn.Send(b.sel.setToolTip, b.nsString("Energy Profiler"))

	// Closing the window hides the app (HideWindowOnClose); take the Dock
	// icon away then. AppKit's notification-name constants hold their own
	// names, so the string is the constant's value.
	center := objc.ID(objc.GetClass("NSNotificationCenter")).Send(b.sel.defaultCenter)
	center.Send(b.sel.addObserver, b.target, b.sel.appDidHide, b.nsString("NSApplicationDidHideNotification"), objc.ID(0))
}

func (b *Bar) remove() {
	if b.item == 0 {
		return
	}
	bar := objc.ID(objc.GetClass("NSStatusBar")).Send(b.sel.systemStatusBar)
	bar.Send(b.sel.removeItem, b.item)
	b.item.Send(b.sel.release)
	b.item = 0
}

func (b *Bar) setPolicy(policy int) {
	app := objc.ID(objc.GetClass("NSApplication")).Send(b.sel.sharedApplication)
	objc.Send[bool](app, b.sel.setActivationPolicy, policy)
}

// buildMenu makes an NSMenu (+1 reference, the caller releases it). Items are
// enabled explicitly, so auto-enabling is off; items with an action target
// our object, and senders records which Item each NSMenuItem stands for.
func (b *Bar) buildMenu(title string, items []Item, senders map[uintptr]Item) objc.ID {
	menu := objc.ID(objc.GetClass("NSMenu")).Send(b.sel.alloc).Send(b.sel.initWithTitle, b.nsString(title))
	menu.Send(b.sel.setAutoenablesItems, false)
	for _, it := range items {
		if it.Separator {
			menu.Send(b.sel.addItem, objc.ID(objc.GetClass("NSMenuItem")).Send(b.sel.separatorItem))
			continue
		}
		var action objc.SEL
		if it.Enabled && it.Action != ActNone {
			action = b.sel.onMenu
		}
		mi := objc.ID(objc.GetClass("NSMenuItem")).Send(b.sel.alloc).
			Send(b.sel.initItem, b.nsString(it.Label), action, b.nsString(it.Key))
		mi.Send(b.sel.setTag, it.Tag)
		mi.Send(b.sel.setEnabled, it.Enabled)
		if action != 0 {
			mi.Send(b.sel.setTarget, b.target)
			senders[uintptr(mi)] = it
		}
		if len(it.Children) > 0 {
			sub := b.buildMenu(it.Label, it.Children, senders)
			mi.Send(b.sel.setSubmenu, sub)
			sub.Send(b.sel.release)
		}
		menu.Send(b.sel.addItem, mi) // the menu retains it
		mi.Send(b.sel.release)
	}
	return menu
}

// menuClicked runs on the main thread when an item is chosen. It finds the
// Item from the sender, the NSMenuItem itself (never by tag in the newest
// menu: see menuBook), and hands it to the Controller, which returns at
// once; actions that show a window first bring the app forward.
func (b *Bar) menuClicked(sender objc.ID) {
	it, ok := b.book.resolve(uintptr(sender))
	if !ok {
		return
	}
	switch it.Action {
	case ActOpenDashboard, ActOpenRun, ActOpenLastQuick, ActPowerStatus:
		app := objc.ID(objc.GetClass("NSApplication")).Send(b.sel.sharedApplication)
		app.Send(b.sel.activate, true)
	}
	b.ctrl.Activate(it)
}

// nsString returns an autoreleased NSString; call it inside a pool (every
// caller runs in drainQueue).
func (b *Bar) nsString(s string) objc.ID {
	return objc.ID(objc.GetClass("NSString")).Send(b.sel.stringWithUTF8String, s)
}
