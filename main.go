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
)

func main() {
	app, err := newApp(os.Args[1:])
	if err != nil {
		log.Fatalf("energy profiler: %v", err)
	}
	err = wails.Run(&options.App{
		Title:     "Energy Profiler",
		Width:     1280,
		Height:    860,
		MinWidth:  800,
		MinHeight: 560,
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
