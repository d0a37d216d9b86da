package menubar

import "sync"

// menuBook keeps what the native menus on screen stand for, so a click runs
// the item the user saw. Two rules, both needed:
//
//   - A click is resolved from its sender (the native menu item object),
//     through the book of the menu that item belongs to, never by looking a
//     tag up in the newest menu: tags are positions, so after a redraw a
//     click on "Quit" would find whatever took its place (a run, say).
//   - A menu that is open is not replaced: a redraw asked for while it is
//     open waits until it closes. AppKit sends menuDidClose: before the
//     clicked item's action, so the pending redraw can land between the two;
//     the book therefore keeps the last few menus (and the caller keeps
//     them alive, so no sender's address is reused while a click from it
//     may still arrive).
//
// Handles are opaque pointers (objc.ID on macOS). The darwin Bar calls it
// on the main thread only; the mutex is for clarity and tests.
type menuBook struct {
	mu      sync.Mutex
	menus   []drawnMenu // oldest first, at most keepMenus
	open    bool
	pending []Item
	waiting bool // pending holds a redraw for when the menu closes
}

// drawnMenu is one native menu and its items, by native item handle.
type drawnMenu struct {
	handle uintptr
	items  map[uintptr]Item
}

// keepMenus is how many drawn menus stay resolvable: the one on screen and
// the two before it.
const keepMenus = 3

// request says whether items may be drawn now. While the menu is open it
// keeps them (replacing an earlier pending request) and returns false.
func (b *menuBook) request(items []Item) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open {
		b.pending, b.waiting = items, true
		return false
	}
	return true
}

// drawn records a native menu just installed, with its items by handle. It
// returns the handles of menus dropped from the book, for the caller to
// release.
func (b *menuBook) drawn(menu uintptr, items map[uintptr]Item) (release []uintptr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.menus = append(b.menus, drawnMenu{handle: menu, items: items})
	for len(b.menus) > keepMenus {
		release = append(release, b.menus[0].handle)
		b.menus = b.menus[1:]
	}
	return release
}

// opened records that the menu is on screen.
func (b *menuBook) opened() {
	b.mu.Lock()
	b.open = true
	b.mu.Unlock()
}

// closed records that the menu left the screen and returns the redraw that
// waited for it, if any.
func (b *menuBook) closed() (items []Item, redraw bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open = false
	items, redraw = b.pending, b.waiting
	b.pending, b.waiting = nil, false
	return items, redraw
}

// resolve returns the Item a clicked native item was drawn for, newest menu
// first. ok is false for a sender in no kept menu.
func (b *menuBook) resolve(sender uintptr) (Item, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.menus) - 1; i >= 0; i-- {
		if it, ok := b.menus[i].items[sender]; ok {
			return it, true
		}
	}
	return Item{}, false
}
