// Package modelstore finds the models a user already has in other tools'
// stores, reads them where they are (never copying them) and resolves
// their names: the Hugging Face hub cache (hf:ORG/NAME), ollama
// (ollama:NAME:TAG) and LM Studio (lmstudio:PUBLISHER/REPO/FILE.gguf).
// Catalog lists them beside the models folder's own (package modeldir).
//
// Like the models folder, a store is a root that nothing is read outside
// of: names are checked component by component, every file a model is
// made of is resolved through its symlinks and refused when it lands
// outside the store's root (the hub cache's snapshot links into its own
// blobs/ are inside it), and listing reads metadata only, never weights.
package modelstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"energyprofiler/backend/model"
)

// Sources of a model.
const (
	SourceModelsFolder = "models folder"
	SourceHuggingFace  = "huggingface"
	SourceOllama       = "ollama"
	SourceLMStudio     = "lmstudio"
)

// Formats of a model.
const (
	FormatSafetensors = "safetensors"
	FormatGGUF        = "gguf"
)

// Entry is one model in the catalog.
type Entry struct {
	// Name is what the CLI, the API and the dashboard call it.
	Name string
	// Path is the folder or file the model is read from; empty when it
	// cannot be used.
	Path         string
	Source       string
	Format       string
	Quantization string // "BF16", "Q4_K_M", ...; "" when unknown
	SizeBytes    int64  // the files' total size, 0 when unknown
	// Complete is false for a download that did not finish; Note says
	// what is missing.
	Complete bool
	Note     string
	// Facts are nil when the model's metadata could not be read; Err
	// says why the model cannot be used.
	Facts *model.Facts
	Err   error
	// Demo marks the built-in random-weight demo models.
	Demo bool
}

// Roots are the store folders to look in. Empty fields are not looked in.
type Roots struct {
	HFHub    string   // the hub cache: its models--ORG--NAME folders
	Ollama   string   // ollama's models folder: manifests/ and blobs/
	LMStudio []string // LM Studio's models folders: PUBLISHER/REPO/...
}

// DefaultRoots are where the tools keep their models, as each tool finds
// them: HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
// else ~/.cache/huggingface/hub; OLLAMA_MODELS, else ~/.ollama/models;
// ~/.lmstudio/models and ~/.cache/lm-studio/models.
func DefaultRoots(getenv func(string) string, home string) Roots {
	var r Roots
	switch {
	case getenv("HF_HUB_CACHE") != "":
		r.HFHub = getenv("HF_HUB_CACHE")
	case getenv("HF_HOME") != "":
		r.HFHub = filepath.Join(getenv("HF_HOME"), "hub")
	case getenv("XDG_CACHE_HOME") != "":
		r.HFHub = filepath.Join(getenv("XDG_CACHE_HOME"), "huggingface", "hub")
	case home != "":
		r.HFHub = filepath.Join(home, ".cache", "huggingface", "hub")
	}
	switch {
	case getenv("OLLAMA_MODELS") != "":
		r.Ollama = getenv("OLLAMA_MODELS")
	case home != "":
		r.Ollama = filepath.Join(home, ".ollama", "models")
	}
	if home != "" {
		r.LMStudio = []string{filepath.Join(home, ".lmstudio", "models"), filepath.Join(home, ".cache", "lm-studio", "models")}
	}
	return r
}

// Errors a name can get.
var (
	// ErrBadName: the name could reach outside its store, or is not a
	// store name at all.
	ErrBadName = errors.New("invalid model name")
	// ErrNotFound: no model of the store has the name.
	ErrNotFound = errors.New("model not found")
	// ErrUnusable: the model is there but cannot be run (an unfinished
	// download, a file that links outside its store, ...).
	ErrUnusable = errors.New("model cannot be used")
)

// IsStoreName reports whether name is one of the stores' names (with its
// "hf:", "ollama:" or "lmstudio:" prefix).
func IsStoreName(name string) bool {
	for _, p := range []string{"hf:", "ollama:", "lmstudio:"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// List returns the models of every store that exists, in store order
// (hub cache, ollama, LM Studio), each by name.
func (r Roots) List() []Entry {
	var out []Entry
	out = append(out, r.hfList()...)
	out = append(out, r.ollamaList()...)
	out = append(out, r.lmstudioList()...)
	return out
}

// Resolve returns the entry called name, applying the same checks as List.
// Only a complete, usable entry resolves; ErrUnusable says why another
// does not.
func (r Roots) Resolve(name string) (Entry, error) {
	var e Entry
	var err error
	switch {
	case strings.HasPrefix(name, "hf:"):
		e, err = r.hfResolve(strings.TrimPrefix(name, "hf:"))
	case strings.HasPrefix(name, "ollama:"):
		e, err = r.ollamaResolve(strings.TrimPrefix(name, "ollama:"))
	case strings.HasPrefix(name, "lmstudio:"):
		e, err = r.lmstudioResolve(strings.TrimPrefix(name, "lmstudio:"))
	default:
		return Entry{}, fmt.Errorf("%w %q: store names start with hf:, ollama: or lmstudio:", ErrBadName, name)
	}
	if err != nil {
		return Entry{}, err
	}
	return e, usable(e)
}

// usable refuses an entry that cannot be run, with the reason.
func usable(e Entry) error {
	switch {
	case e.Err != nil:
		return fmt.Errorf("%w: %s: %w", ErrUnusable, e.Name, e.Err)
	case !e.Complete:
		return fmt.Errorf("%w: %s is not completely downloaded: %s", ErrUnusable, e.Name, e.Note)
	}
	return nil
}

// safeComponent matches one path component of a store name: no separators,
// no leading dot (so neither "." nor ".."), no control characters.
var safeComponent = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._+-]*$`)

// components splits a store name on "/" into n components (or between
// min and max), each of which must be safe.
func components(name string, minN, maxN int) ([]string, error) {
	parts := strings.Split(name, "/")
	if len(parts) < minN || len(parts) > maxN {
		return nil, fmt.Errorf("%w %q: expected %d to %d parts separated by /", ErrBadName, name, minN, maxN)
	}
	for _, p := range parts {
		if !safeComponent.MatchString(p) || strings.Contains(p, "..") {
			return nil, fmt.Errorf("%w %q: %q is not a plain file or folder name", ErrBadName, name, p)
		}
	}
	return parts, nil
}

// realRoot resolves a store root through its symlinks (a cache moved to
// another disk and linked back is still the cache).
func realRoot(root string) (string, bool) {
	if root == "" {
		return "", false
	}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", false
	}
	st, err := os.Stat(real)
	return real, err == nil && st.IsDir()
}

// ErrOutside is wrapped when a file resolves outside its store's root.
var ErrOutside = errors.New("links outside its store")

// inside resolves path through its symlinks and checks that it lands in
// root (already resolved). It returns the resolved path.
func inside(root, path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("%s %w (to %s, outside %s): refusing to read it", path, ErrOutside, real, root)
	}
	return real, nil
}

// checkFolder resolves every entry directly inside dir (the files a model
// loader reads) and refuses the folder when one lands outside root. It
// returns the entries' names and the sizes of those that exist (a dangling
// link has no size: its blob is missing).
func checkFolder(root, dir string) (map[string]int64, error) {
	realDir, err := inside(root, dir)
	if err != nil {
		return nil, err
	}
	items, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	files := map[string]int64{}
	for _, it := range items {
		p := filepath.Join(dir, it.Name())
		real, err := inside(root, p)
		if errors.Is(err, os.ErrNotExist) {
			// A dangling link: its blob is missing, unless it never
			// pointed into the store at all.
			if target, lerr := os.Readlink(p); lerr == nil {
				if !filepath.IsAbs(target) {
					target = filepath.Join(realDir, target)
				}
				if rel, rerr := filepath.Rel(root, filepath.Clean(target)); rerr != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
					return nil, fmt.Errorf("%s %w (to %s, outside %s): refusing to read it", p, ErrOutside, target, root)
				}
			}
			files[it.Name()] = -1
			continue
		}
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(real)
		if err != nil {
			return nil, err
		}
		if st.Mode().IsRegular() {
			files[it.Name()] = st.Size()
		} else {
			files[it.Name()] = 0
		}
	}
	return files, nil
}
