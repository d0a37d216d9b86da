package modelstore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LM Studio keeps downloads as PUBLISHER/REPO/FILE.gguf (MLX models as
// PUBLISHER/REPO/ folders with a config.json) under its models folder.

// lmstudioList lists every root's GGUF files and model folders.
func (r Roots) lmstudioList() []Entry {
	var out []Entry
	seen := map[string]bool{}
	for _, dir := range r.LMStudio {
		root, ok := realRoot(dir)
		if !ok || seen[root] {
			continue // ~/.cache/lm-studio is often a link to ~/.lmstudio
		}
		seen[root] = true
		publishers, _ := os.ReadDir(root)
		for _, pub := range publishers {
			repos, _ := os.ReadDir(filepath.Join(root, pub.Name()))
			for _, repo := range repos {
				rel := pub.Name() + "/" + repo.Name()
				if _, err := components(rel, 2, 2); err != nil {
					continue
				}
				out = append(out, lmstudioRepo(root, rel)...)
			}
		}
	}
	return out
}

// lmstudioRepo describes one PUBLISHER/REPO folder.
func lmstudioRepo(root, rel string) []Entry {
	dir := filepath.Join(root, filepath.FromSlash(rel))
	name := "lmstudio:" + rel
	files, err := checkFolder(root, dir)
	if err != nil {
		return []Entry{{Name: name, Source: SourceLMStudio, Err: err}}
	}
	var out []Entry
	if _, ok := files["config.json"]; ok {
		e := hfFolder(dir, files, Entry{Name: name, Source: SourceLMStudio, Format: FormatSafetensors})
		out = append(out, e)
	}
	out = append(out, ggufEntries(dir, name, files, SourceLMStudio)...)
	return out
}

// lmstudioResolve finds PUBLISHER/REPO/FILE.gguf or PUBLISHER/REPO.
func (r Roots) lmstudioResolve(rest string) (Entry, error) {
	parts, err := components(rest, 2, 3)
	if err != nil {
		return Entry{}, err
	}
	if len(parts) == 3 && !isGGUFName(parts[2]) {
		return Entry{}, fmt.Errorf("%w lmstudio:%s: name a .gguf file, lmstudio:PUBLISHER/REPO/FILE.gguf", ErrBadName, rest)
	}
	repo := parts[0] + "/" + parts[1]
	for _, dir := range r.LMStudio {
		root, ok := realRoot(dir)
		if !ok {
			continue
		}
		if st, err := os.Stat(filepath.Join(root, parts[0], parts[1])); err != nil || !st.IsDir() {
			continue
		}
		for _, e := range lmstudioRepo(root, repo) {
			if e.Name == "lmstudio:"+rest {
				return e, nil
			}
		}
	}
	return Entry{}, fmt.Errorf("%w: lmstudio:%s is not in %s", ErrNotFound, rest, strings.Join(r.LMStudio, " or "))
}
