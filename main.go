//go:build desktop || bindings

// The Energy Profiler desktop app: a Wails v2 window around the same
// dashboard and API that `energyprofiler serve` offers. All logic lives in
// backend/; this file only wires the window up.
package main

import (
	"log"
	"os"

	"github.com/wailsapp/wails/v2"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"

	"energyprofiler/backend/menubar"
)

func main() {
	app, err := newApp(os.Args[1:])
	if err != nil {
		log.Fatalf("energy profiler: %v", err)
	}
	// On macOS the app lives in the menu bar: the window opens from the
	// status item, and closing it hides it instead of quitting.
	startHidden, hideOnClose := menubar.WindowBehaviour()
	err = wails.Run(&options.App{
		Title:     "Energy Profiler",
		Width:     1280,
		Height:    860,
		MinWidth:  800,
		MinHeight: 560,

		StartHidden:       startHidden,
		HideWindowOnClose: hideOnClose,
		AssetServer: &assetserver.Options{
			Assets:  app.assets,
			Handler: app.windowHandler,
		},
		// A model folder dropped on the window is profiled (app.onDrop).
		DragAndDrop: &options.DragAndDrop{EnableFileDrop: true},
		OnStartup:   app.startup,
		OnShutdown:  app.shutdown,
		Bind:        []any{app},
	})
	if err != nil {
		log.Fatalf("energy profiler: %v", err)
	}
}
