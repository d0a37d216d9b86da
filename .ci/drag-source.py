#!/usr/bin/python3
# A minimal X11 drag source for the desktop drop test: a window whose button
# can be dragged, offering one folder as text/uri-list, as a file manager
# would. Usage: drag-source.py FOLDER
import sys
import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, GLib, Gtk  # noqa: E402

uri = GLib.filename_to_uri(sys.argv[1], None)
win = Gtk.Window(title="drag-source")
win.move(0, 0)
win.set_default_size(160, 80)
button = Gtk.Button(label="drag me")
button.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
button.drag_source_add_uri_targets()
button.connect("drag-data-get", lambda w, ctx, data, info, t: data.set_uris([uri]))
win.add(button)
win.connect("destroy", Gtk.main_quit)
win.show_all()
Gtk.main()
