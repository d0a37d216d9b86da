package model

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Issue 12 item 2: each way of changing a mapped file under an open model is
// noticed, and the error names the file.
func TestCheckFilesNoticesChangedWeights(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, path string)
		want   string
	}{
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, 100); err != nil {
				t.Fatal(err)
			}
		}, "size"},
		{"renamed over", func(t *testing.T, path string) {
			data, _ := os.ReadFile(path)
			tmp := path + ".new"
			if err := os.WriteFile(tmp, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, "replaced"},
		{"rewritten in place", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte{0}, 200)
			f.Close()
			later := time.Now().Add(2 * time.Second)
			os.Chtimes(path, later, later)
		}, "rewritten"},
		{"removed", func(t *testing.T, path string) { os.Remove(path) }, "changed on disk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeSynth(t, synth{config: tinyConfigs()["llama"]})
			m, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if err := m.CheckFiles(); err != nil {
				t.Fatalf("unchanged model: %v", err)
			}
			path := filepath.Join(dir, "model.safetensors")
			tt.change(t, path)
			wantErr(t, m.CheckFiles(), path, tt.want)
		})
	}
}

func TestCheckFilesNoticesChangedConfig(t *testing.T) {
	dir := writeSynth(t, synth{config: tinyConfigs()["llama"]})
	m, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(filepath.Join(dir, "config.json"), later, later)
	wantErr(t, m.CheckFiles(), "config.json")
}
