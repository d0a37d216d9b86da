// Package storetest writes fake model stores laid out the way
// huggingface_hub and ollama lay out theirs, for tests of the packages
// that read them.
package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"energyprofiler/backend/demo"
	"energyprofiler/backend/model"
	"energyprofiler/backend/tokenizer"
)

// HubRepo writes files into a hub-cache repository as huggingface_hub
// does: the bytes in blobs/ named by their hash, the snapshot's entries as
// relative symlinks ../../blobs/HASH, and refs/main naming the commit when
// refMain is set. It returns the snapshot folder.
func HubRepo(t testing.TB, hub, repo, commit string, files map[string][]byte, refMain bool) string {
	t.Helper()
	repoDir := filepath.Join(hub, "models--"+strings.ReplaceAll(repo, "/", "--"))
	snap := filepath.Join(repoDir, "snapshots", commit)
	mkdirs(t, snap, filepath.Join(repoDir, "blobs"), filepath.Join(repoDir, "refs"))
	for name, data := range files {
		sum := sha256.Sum256(data)
		blob := hex.EncodeToString(sum[:])
		if err := os.WriteFile(filepath.Join(repoDir, "blobs", blob), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "blobs", blob), filepath.Join(snap, name)); err != nil {
			t.Fatal(err)
		}
	}
	if refMain {
		if err := os.WriteFile(filepath.Join(repoDir, "refs", "main"), []byte(commit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return snap
}

// ReadFolder reads the named files of a model folder, for HubRepo.
func ReadFolder(t testing.TB, dir string, names ...string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	return files
}

func mkdirs(t testing.TB, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// GGUF writes a small demo-format model as a GGUF file (llama, BF16
// matrices, the demo tokenizer in its metadata) at path, with
// chatTemplate as tokenizer.chat_template when it is not empty, the way
// llama.cpp's converter writes one.
func GGUF(t testing.TB, path, chatTemplate string) {
	t.Helper()
	dir, err := demo.WriteSpec(t.TempDir(), demo.Spec{Name: "g", Hidden: 32, Intermediate: 64, Layers: 2, Heads: 4, KVHead: 2,
		Vocab: tokenizer.DemoVocabSize(demo.TokenizerMerges) + 8, Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	w := model.NewGGUFWriter()
	if err := model.WriteGGUF(m, w, "test", 32, model.FloatEncoder(model.BF16)); err != nil { // 32: LLAMA_FTYPE_MOSTLY_BF16
		t.Fatal(err)
	}
	bos, eos := tokenizer.DemoSpecialIDs(demo.TokenizerMerges)
	if err := tok.WriteGGUF(w, "gpt-2", bos, eos, true); err != nil {
		t.Fatal(err)
	}
	if chatTemplate != "" {
		w.SetString("tokenizer.chat_template", chatTemplate)
	}
	mkdirs(t, filepath.Dir(path))
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// Ollama writes a model into an ollama models folder as ollama does: the
// GGUF bytes, a config blob naming fileType and a template blob under
// blobs/sha256-HEX, and a manifest at manifests/REGISTRY/NAMESPACE/NAME/TAG
// (parts) listing them by digest. writeBlob false leaves the model blob
// out, as an interrupted pull does. It returns the model blob's path.
func Ollama(t testing.TB, root string, parts []string, fileType string, gguf []byte, writeBlob bool) string {
	t.Helper()
	mkdirs(t, filepath.Join(root, "blobs"))
	blob := func(data []byte, write bool) (string, string) {
		sum := sha256.Sum256(data)
		h := hex.EncodeToString(sum[:])
		path := filepath.Join(root, "blobs", "sha256-"+h)
		if write {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return "sha256:" + h, path
	}
	cfg, _ := json.Marshal(map[string]any{"model_format": "gguf", "model_family": "llama", "model_type": "1.2B", "file_type": fileType})
	cfgDigest, _ := blob(cfg, true)
	modelDigest, modelPath := blob(gguf, writeBlob)
	tmpl := []byte("{{ .Prompt }}")
	tmplDigest, _ := blob(tmpl, true)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
		"config": map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cfgDigest, "size": len(cfg)},
		"layers": []map[string]any{
			{"mediaType": "application/vnd.ollama.image.model", "digest": modelDigest, "size": len(gguf)},
			{"mediaType": "application/vnd.ollama.image.template", "digest": tmplDigest, "size": len(tmpl)},
		},
	})
	path := filepath.Join(append([]string{root, "manifests"}, parts...)...)
	mkdirs(t, filepath.Dir(path))
	if err := os.WriteFile(path, manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	return modelPath
}
