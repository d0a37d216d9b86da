package modelstore

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"energyprofiler/backend/model"
)

// The Hugging Face hub cache (huggingface_hub's layout):
//
//	models--ORG--NAME/
//	  refs/main                  the commit the "main" branch points at
//	  snapshots/COMMIT/FILE      symlinks into ../../blobs/
//	  blobs/ETAG                 the files' bytes; ETAG.incomplete while downloading
//
// A file appears in a snapshot only once its blob is complete, so a
// missing shard (or a dangling link) is an unfinished download.

// hfList lists the hub cache's models: one entry per repository's current
// snapshot that holds a config.json, and one per .gguf file in it.
func (r Roots) hfList() []Entry {
	root, ok := realRoot(r.HFHub)
	if !ok {
		return nil
	}
	items, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var out []Entry
	for _, it := range items {
		repo, ok := hfRepoID(it.Name())
		if !ok {
			continue
		}
		out = append(out, hfRepo(root, repo)...)
	}
	return out
}

// hfRepoID turns "models--ORG--NAME" into "ORG/NAME" ("models--NAME" into
// "NAME"); datasets and spaces are not models.
func hfRepoID(folder string) (string, bool) {
	rest, ok := strings.CutPrefix(folder, "models--")
	if !ok || rest == "" {
		return "", false
	}
	id := strings.ReplaceAll(rest, "--", "/")
	if _, err := components(id, 1, 2); err != nil {
		return "", false
	}
	return id, true
}

// hfRepo describes one repository of the cache.
func hfRepo(root, repo string) []Entry {
	name := "hf:" + repo
	repoDir := filepath.Join(root, "models--"+strings.ReplaceAll(repo, "/", "--"))
	base := Entry{Name: name, Source: SourceHuggingFace, Format: FormatSafetensors}
	snap, note, err := hfSnapshot(root, repoDir)
	if err != nil {
		base.Err = err
		return []Entry{base}
	}
	files, err := checkFolder(root, snap)
	if err != nil {
		base.Err = err
		return []Entry{base}
	}
	partial := hfPartialBlobs(repoDir)
	var out []Entry
	if _, ok := files["config.json"]; ok {
		e := hfFolder(snap, files, base)
		if !e.Complete && partial > 0 {
			e.Note += fmt.Sprintf("; %d download(s) unfinished in blobs/ (run huggingface-cli download %s again)", partial, repo)
		}
		if note != "" {
			e.Note = strings.TrimPrefix(e.Note+"; "+note, "; ")
		}
		out = append(out, e)
	}
	out = append(out, ggufEntries(snap, name, files, SourceHuggingFace)...)
	return out
}

// hfSnapshot picks the snapshot that refs/main names, else the only one,
// else the newest; note says which when there was a choice.
func hfSnapshot(root, repoDir string) (string, string, error) {
	snapDir := filepath.Join(repoDir, "snapshots")
	if ref, err := readSmall(root, filepath.Join(repoDir, "refs", "main"), 256); err == nil {
		commit := strings.TrimSpace(string(ref))
		if safeComponent.MatchString(commit) {
			dir := filepath.Join(snapDir, commit)
			if st, err := os.Stat(dir); err == nil && st.IsDir() {
				return dir, "", nil
			}
		}
	}
	items, err := os.ReadDir(snapDir)
	if err != nil {
		return "", "", fmt.Errorf("no snapshots in %s: the download never finished a file; run huggingface-cli download again", repoDir)
	}
	var newest string
	var newestTime int64
	n := 0
	for _, it := range items {
		if !it.IsDir() || !safeComponent.MatchString(it.Name()) {
			continue
		}
		n++
		if info, err := it.Info(); err == nil && (newest == "" || info.ModTime().UnixNano() > newestTime) {
			newest, newestTime = it.Name(), info.ModTime().UnixNano()
		}
	}
	switch n {
	case 0:
		return "", "", fmt.Errorf("no snapshots in %s: the download never finished a file; run huggingface-cli download again", repoDir)
	case 1:
		return filepath.Join(snapDir, newest), "", nil
	}
	return filepath.Join(snapDir, newest), fmt.Sprintf("the newest of %d snapshots (no refs/main)", n), nil
}

// hfPartialBlobs counts unfinished downloads in the repository's blobs/.
func hfPartialBlobs(repoDir string) int {
	matches, _ := filepath.Glob(filepath.Join(repoDir, "blobs", "*.incomplete"))
	return len(matches)
}

// hfFolder describes a snapshot that holds a Hugging Face model folder.
func hfFolder(dir string, files map[string]int64, e Entry) Entry {
	var missing []string
	need := func(f string) {
		if size, ok := files[f]; !ok || size < 0 {
			missing = append(missing, f)
		}
	}
	need("config.json")
	need("tokenizer.json")
	switch size, ok := files["model.safetensors"]; {
	case ok && size >= 0:
	case files["model.safetensors.index.json"] > 0:
		shards, err := shardNames(filepath.Join(dir, "model.safetensors.index.json"))
		if err != nil {
			e.Err = err
			return e
		}
		for _, s := range shards {
			need(s)
		}
	default:
		missing = append(missing, "model.safetensors (or its index)")
	}
	for _, size := range files {
		if size > 0 {
			e.SizeBytes += size
		}
	}
	e.Complete = len(missing) == 0
	if !e.Complete {
		sort.Strings(missing)
		e.Note = "missing " + strings.Join(missing, ", ")
		return e
	}
	e.Path = dir
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		e.Err = err
		return e
	}
	if q := quantizedWith(dir); q != "" {
		e.Quantization = q
		e.Err = fmt.Errorf("its weights are quantized with %s, which this engine does not run: use the BF16/F16 repository or a GGUF file", q)
		return e
	}
	facts := cfg.Facts()
	e.Facts = &facts
	e.Quantization = facts.DType
	return e
}

// shardNames reads the shard files a sharded safetensors index names.
func shardNames(path string) ([]string, error) {
	data, err := os.ReadFile(path) // inside the root: checkFolder resolved it
	if err != nil {
		return nil, err
	}
	if len(data) > model.MaxConfigBytes {
		return nil, fmt.Errorf("%s is larger than a safetensors index can be", path)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range idx.WeightMap {
		if !seen[f] {
			if _, err := components(f, 1, 1); err != nil {
				return nil, fmt.Errorf("%s names the shard %q: %w", path, f, err)
			}
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out, nil
}

// quantizedWith names the method of a config.json quantization_config
// (GPTQ, AWQ, bitsandbytes, ...), "" when there is none.
func quantizedWith(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return ""
	}
	var cfg struct {
		Q *struct {
			Method string `json:"quant_method"`
			Bits   int    `json:"bits"`
		} `json:"quantization_config"`
	}
	if json.Unmarshal(data, &cfg) != nil || cfg.Q == nil {
		return ""
	}
	if cfg.Q.Bits > 0 {
		return fmt.Sprintf("%s %d-bit", cfg.Q.Method, cfg.Q.Bits)
	}
	return cfg.Q.Method
}

// hfResolve finds "ORG/NAME" or "ORG/NAME/FILE.gguf".
func (r Roots) hfResolve(rest string) (Entry, error) {
	parts, err := components(rest, 1, 3)
	if err != nil {
		return Entry{}, err
	}
	root, ok := realRoot(r.HFHub)
	if !ok {
		return Entry{}, fmt.Errorf("%w: hf:%s: no Hugging Face hub cache at %s (set HF_HUB_CACHE or HF_HOME)", ErrNotFound, rest, r.HFHub)
	}
	repo := rest
	if n := len(parts); n > 1 && isGGUFName(parts[n-1]) {
		repo = strings.Join(parts[:n-1], "/")
	} else if n == 3 {
		return Entry{}, fmt.Errorf("%w hf:%s: use hf:ORG/NAME, or hf:ORG/NAME/FILE.gguf", ErrBadName, rest)
	}
	if st, err := os.Stat(filepath.Join(root, "models--"+strings.ReplaceAll(repo, "/", "--"))); err != nil || !st.IsDir() {
		return Entry{}, fmt.Errorf("%w: hf:%s is not in the hub cache %s (download it with huggingface-cli download %s)", ErrNotFound, rest, root, repo)
	}
	for _, e := range hfRepo(root, repo) {
		if e.Name == "hf:"+rest {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("%w: hf:%s: the cached repository has no such model (no config.json or .gguf file)", ErrNotFound, rest)
}

// readSmall reads a small metadata file that must lie inside root.
func readSmall(root, path string, limit int64) ([]byte, error) {
	real, err := inside(root, path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// isGGUFName reports whether a file name is a GGUF model (LM Studio and
// the hub keep vision projectors, mmproj-*.gguf, beside the models: they
// are not language models).
func isGGUFName(name string) bool {
	lower := strings.ToLower(name)
	return strings.HasSuffix(lower, ".gguf") && !strings.HasPrefix(lower, "mmproj") && !strings.HasPrefix(lower, ".")
}
