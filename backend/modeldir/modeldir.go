// Package modeldir owns the models folder: finding the model folders and
// GGUF files in it, describing them from their config.json or GGUF header,
// and resolving a model name from an API request to a folder or file
// without ever leaving the models folder.
package modeldir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"energyprofiler/backend/demo"
	"energyprofiler/backend/model"
)

// Default returns ~/EnergyProfiler/models.
func Default() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home folder for the default models folder: %w (pass --models-dir)", err)
	}
	return filepath.Join(home, "EnergyProfiler", "models"), nil
}

// Entry is one model folder.
type Entry struct {
	Name string
	Path string
	// Facts are nil when config.json could not be read; Err says why.
	Facts *model.Facts
	Err   error
	// Demo is true for the built-in random-weight demo models.
	Demo bool
}

// List returns the models directly inside dir, by name: folders holding a
// config.json, and *.gguf files (named with their extension). One whose
// config cannot be read is listed with its error, so the user sees why it is
// not usable.
func List(dir string) ([]Entry, error) {
	items, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read models folder %s: %w", dir, err)
	}
	var out []Entry
	for _, it := range items {
		path := filepath.Join(dir, it.Name())
		if model.IsGGUFPath(it.Name()) && !strings.HasPrefix(it.Name(), ".") {
			if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
				out = append(out, ggufEntry(it.Name(), path))
			}
			continue
		}
		if !it.IsDir() && it.Type()&os.ModeSymlink == 0 {
			continue
		}
		if _, err := os.Stat(filepath.Join(path, "config.json")); err != nil {
			continue
		}
		e := Entry{Name: it.Name(), Path: path, Demo: isDemo(path)}
		cfg, err := model.LoadConfig(path)
		if err == nil {
			err = checkWeightSize(path, cfg)
		}
		if err != nil {
			e.Err = err
		} else {
			f := cfg.Facts()
			e.Facts = &f
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// checkWeightSize refuses a config that declares more parameters than the
// folder's weights can hold, from the files' sizes alone (a listing must
// stay cheap). A folder without weights passes: its facts come from
// config.json alone.
func checkWeightSize(path string, cfg *model.Config) error {
	have, err := model.WeightFileBytes(path)
	if errors.Is(err, model.ErrNoWeights) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := cfg.CheckWeightBytes(have, model.MinSafetensorsBytesPerParam); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ggufEntry describes a GGUF file from its validated header.
func ggufEntry(name, path string) Entry {
	e := Entry{Name: name, Path: path}
	f, err := model.InspectGGUF(path)
	if err != nil {
		e.Err = err
		return e
	}
	e.Facts = &f
	if g, _, release, err := model.ReadGGUF(path); err == nil {
		_, e.Demo = g.String(demo.GGUFMarkerKey)
		release()
	}
	return e
}

func isDemo(path string) bool {
	_, err := os.Stat(filepath.Join(path, demo.MarkerFile))
	return err == nil
}

// ErrBadName is returned for names that could reach outside the models
// folder.
var ErrBadName = errors.New("invalid model name")

// ErrNotFound is returned when no model folder has the name.
var ErrNotFound = errors.New("model not found")

// Resolve returns the folder (or .gguf file) of the model called name
// inside dir. Names with
// path separators, "..", or a leading dot are refused, so a request can never
// name a folder outside the models folder.
func Resolve(dir, name string) (string, error) {
	if name == "" || name == "." || strings.HasPrefix(name, ".") ||
		strings.ContainsAny(name, `/\`+"\x00") || strings.Contains(name, "..") || filepath.IsAbs(name) {
		return "", fmt.Errorf("%w %q: use a folder name from the models list, without path separators", ErrBadName, name)
	}
	path := filepath.Join(dir, name)
	if model.IsGGUFPath(name) {
		if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
			return "", fmt.Errorf("%w: %q is not a GGUF file in %s", ErrNotFound, name, dir)
		}
		return path, nil
	}
	if _, err := os.Stat(filepath.Join(path, "config.json")); err != nil {
		return "", fmt.Errorf("%w: %q is not a model folder in %s (it needs a config.json)", ErrNotFound, name, dir)
	}
	return path, nil
}
