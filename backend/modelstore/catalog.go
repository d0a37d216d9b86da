package modelstore

import (
	"errors"
	"os"

	"energyprofiler/backend/model"
	"energyprofiler/backend/modeldir"
)

// Catalog is every model the user has: the models folder's own, then the
// stores'.
type Catalog struct {
	ModelsDir string
	Roots     Roots
}

// NewCatalog is the catalog of modelsDir and the stores where the tools
// keep them for this user (DefaultRoots of the environment).
func NewCatalog(modelsDir string) Catalog {
	home, _ := os.UserHomeDir()
	return Catalog{ModelsDir: modelsDir, Roots: DefaultRoots(os.Getenv, home)}
}

// List returns the models folder's models by name, then each store's.
// Only an unreadable models folder is an error: a store that is not there
// simply has no models.
func (c Catalog) List() ([]Entry, error) {
	local, err := modeldir.List(c.ModelsDir)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(local))
	for _, l := range local {
		e := Entry{Name: l.Name, Path: l.Path, Source: SourceModelsFolder, Format: FormatSafetensors,
			Complete: true, Facts: l.Facts, Err: l.Err, Demo: l.Demo}
		if st, err := os.Stat(l.Path); err == nil && st.Mode().IsRegular() {
			e.Format, e.SizeBytes = FormatGGUF, st.Size()
		} else if n, err := model.WeightFileBytes(l.Path); err == nil {
			e.SizeBytes = n
		}
		if l.Facts != nil {
			e.Quantization = l.Facts.DType
		}
		out = append(out, e)
	}
	return append(out, c.Roots.List()...), nil
}

// Resolve maps a model name to the folder or file to load: a store name
// (hf:, ollama:, lmstudio:) through its store, any other through the
// models folder. Errors wrap ErrBadName, ErrNotFound or ErrUnusable (the
// models folder's own errors map onto the first two).
func (c Catalog) Resolve(name string) (string, error) {
	if IsStoreName(name) {
		e, err := c.Roots.Resolve(name)
		return e.Path, err
	}
	path, err := modeldir.Resolve(c.ModelsDir, name)
	switch {
	case errors.Is(err, modeldir.ErrBadName):
		return "", kindError{ErrBadName, err}
	case errors.Is(err, modeldir.ErrNotFound):
		return "", kindError{ErrNotFound, err}
	}
	return path, err
}

// kindError is err, also matching kind with errors.Is.
type kindError struct{ kind, err error }

func (k kindError) Error() string   { return k.err.Error() }
func (k kindError) Unwrap() []error { return []error{k.kind, k.err} }
