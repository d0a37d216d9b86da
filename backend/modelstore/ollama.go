package modelstore

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ollama's store (see ollama's server/internal/manifest docs):
//
//	manifests/REGISTRY/NAMESPACE/NAME/TAG   a JSON manifest
//	blobs/sha256-HEX                        the layers, named by digest
//
// The manifest's layer of mediaType application/vnd.ollama.image.model is
// the GGUF file; its config layer (a small JSON blob) names the
// quantization as file_type.

const (
	ollamaDefaultRegistry  = "registry.ollama.ai"
	ollamaDefaultNamespace = "library"
	ollamaModelLayer       = "application/vnd.ollama.image.model"
	// maxManifestBytes caps a manifest or config blob: real ones are a
	// few hundred bytes.
	maxManifestBytes = 1 << 20
)

type ollamaManifest struct {
	Config ollamaLayer   `json:"config"`
	Layers []ollamaLayer `json:"layers"`
}

type ollamaLayer struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// digestPattern is a layer digest: ollama writes sha256:HEX in manifests
// and names the blob sha256-HEX.
var digestPattern = regexp.MustCompile(`^sha256[:-]([0-9a-f]{64})$`)

// ollamaList lists every manifest under manifests/.
func (r Roots) ollamaList() []Entry {
	root, ok := realRoot(r.Ollama)
	if !ok {
		return nil
	}
	manifests := filepath.Join(root, "manifests")
	var out []Entry
	registries, _ := os.ReadDir(manifests)
	for _, reg := range registries {
		namespaces, _ := os.ReadDir(filepath.Join(manifests, reg.Name()))
		for _, ns := range namespaces {
			models, _ := os.ReadDir(filepath.Join(manifests, reg.Name(), ns.Name()))
			for _, m := range models {
				tags, _ := os.ReadDir(filepath.Join(manifests, reg.Name(), ns.Name(), m.Name()))
				for _, tag := range tags {
					parts := []string{reg.Name(), ns.Name(), m.Name(), tag.Name()}
					if _, err := components(strings.Join(parts, "/"), 4, 4); err != nil || tag.IsDir() {
						continue
					}
					out = append(out, ollamaEntry(root, parts))
				}
			}
		}
	}
	return out
}

// ollamaName is how ollama itself shows a model: NAME:TAG for the default
// registry's library, NAMESPACE/NAME:TAG in it, REGISTRY/NAMESPACE/NAME:TAG
// elsewhere (hf.co/bartowski/...:Q4_K_M).
func ollamaName(parts []string) string {
	reg, ns, name, tag := parts[0], parts[1], parts[2], parts[3]
	switch {
	case reg == ollamaDefaultRegistry && ns == ollamaDefaultNamespace:
		return "ollama:" + name + ":" + tag
	case reg == ollamaDefaultRegistry:
		return "ollama:" + ns + "/" + name + ":" + tag
	}
	return "ollama:" + reg + "/" + ns + "/" + name + ":" + tag
}

// ollamaEntry describes the model of one manifest.
func ollamaEntry(root string, parts []string) Entry {
	e := Entry{Name: ollamaName(parts), Source: SourceOllama, Format: FormatGGUF}
	data, err := readSmall(root, filepath.Join(append([]string{root, "manifests"}, parts...)...), maxManifestBytes)
	if err != nil {
		e.Err = err
		return e
	}
	var m ollamaManifest
	if err := json.Unmarshal(data, &m); err != nil {
		e.Err = fmt.Errorf("manifest of %s is not valid JSON: %w", e.Name, err)
		return e
	}
	var layer *ollamaLayer
	for i := range m.Layers {
		if m.Layers[i].MediaType == ollamaModelLayer {
			layer = &m.Layers[i]
		}
	}
	if layer == nil {
		e.Err = fmt.Errorf("%s has no %s layer (not a GGUF model; ollama's newer tensor layout is not read)", e.Name, ollamaModelLayer)
		return e
	}
	blob, err := blobPath(root, layer.Digest)
	if err != nil {
		e.Err = fmt.Errorf("%s: %w", e.Name, err)
		return e
	}
	if cfgBlob, err := blobPath(root, m.Config.Digest); err == nil {
		if data, err := readSmall(root, cfgBlob, maxManifestBytes); err == nil {
			var cfg struct {
				FileType string `json:"file_type"`
			}
			if json.Unmarshal(data, &cfg) == nil {
				e.Quantization = cfg.FileType
			}
		}
	}
	e.SizeBytes = layer.Size
	st, err := os.Lstat(blob)
	switch {
	case err != nil:
		e.Note = fmt.Sprintf("the model blob %s is missing (run ollama pull %s to finish the download)", filepath.Base(blob), strings.TrimPrefix(e.Name, "ollama:"))
		return e
	case st.Mode().IsRegular() && st.Size() != layer.Size:
		e.Note = fmt.Sprintf("the model blob has %d of its %d bytes (run ollama pull %s)", st.Size(), layer.Size, strings.TrimPrefix(e.Name, "ollama:"))
		return e
	}
	size := st.Size()
	if _, err := inside(root, blob); err != nil {
		e.Err = err
		return e
	}
	q := e.Quantization
	describeGGUF(&e, blob, size)
	if e.Quantization == "" {
		e.Quantization = q
	}
	return e
}

// blobPath maps a digest to its blob file.
func blobPath(root, digest string) (string, error) {
	m := digestPattern.FindStringSubmatch(digest)
	if m == nil {
		return "", fmt.Errorf("%q is not a sha256 digest", digest)
	}
	return filepath.Join(root, "blobs", "sha256-"+m[1]), nil
}

// ollamaResolve finds NAME[:TAG], NAMESPACE/NAME[:TAG] or
// REGISTRY/NAMESPACE/NAME[:TAG]; the tag defaults to latest as in ollama.
func (r Roots) ollamaResolve(rest string) (Entry, error) {
	path, tag, found := strings.Cut(rest, ":")
	if !found {
		tag = "latest"
	}
	parts, err := components(path, 1, 3)
	if err != nil {
		return Entry{}, err
	}
	if _, err := components(tag, 1, 1); err != nil {
		return Entry{}, err
	}
	switch len(parts) {
	case 1:
		parts = []string{ollamaDefaultRegistry, ollamaDefaultNamespace, parts[0]}
	case 2:
		parts = append([]string{ollamaDefaultRegistry}, parts...)
	}
	parts = append(parts, tag)
	root, ok := realRoot(r.Ollama)
	if !ok {
		return Entry{}, fmt.Errorf("%w: ollama:%s: no ollama models folder at %s (set OLLAMA_MODELS)", ErrNotFound, rest, r.Ollama)
	}
	manifest := filepath.Join(append([]string{root, "manifests"}, parts...)...)
	if st, err := os.Stat(manifest); err != nil || !st.Mode().IsRegular() {
		return Entry{}, fmt.Errorf("%w: ollama:%s is not in %s (ollama pull %s first)", ErrNotFound, rest, root, rest)
	}
	return ollamaEntry(root, parts), nil
}
