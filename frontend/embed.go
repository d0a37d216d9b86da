// Package frontend embeds the built dashboard (Svelte 5 + D3) so the headless
// server and the desktop shell serve the very same files.
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// App returns the built dashboard (the contents of dist/app), or ok=false
// when the frontend has not been built into this binary.
func App() (app fs.FS, ok bool) {
	sub, err := fs.Sub(dist, "dist/app")
	if err != nil {
		return nil, false
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return nil, false
	}
	return sub, true
}
