package modelstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"energyprofiler/backend/demo"
	"energyprofiler/backend/modelstore/storetest"
	"energyprofiler/backend/tokenizer"
)

// The fake stores below are laid out the way huggingface_hub, ollama and
// LM Studio lay out theirs (see each file's comment for the layout).

func mkdir(t *testing.T, parts ...string) string {
	t.Helper()
	p := filepath.Join(parts...)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	mkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	mkdir(t, filepath.Dir(link))
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// demoFolder writes a small real model folder (config, bf16 safetensors,
// tokenizer) and returns its files' contents.
func demoFolder(t *testing.T) map[string][]byte {
	t.Helper()
	dir, err := demo.WriteSpec(t.TempDir(), demo.Spec{Name: "m", Hidden: 32, Intermediate: 64, Layers: 2, Heads: 4, KVHead: 2,
		Vocab: tokenizer.DemoVocabSize(demo.TokenizerMerges) + 8, Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return storetest.ReadFolder(t, dir, "config.json", "generation_config.json", "tokenizer.json", "model.safetensors")
}

func hfRepoFake(t *testing.T, hub, repo, commit string, files map[string][]byte, refMain bool) string {
	return storetest.HubRepo(t, hub, repo, commit, files, refMain)
}

func find(entries []Entry, name string) (Entry, bool) {
	for _, e := range entries {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

func TestHuggingFaceCache(t *testing.T) {
	hub := t.TempDir()
	files := demoFolder(t)
	var total int64
	for _, d := range files {
		total += int64(len(d))
	}
	snap := hfRepoFake(t, hub, "Qwen/Qwen2.5-0.5B-Instruct", "8f2b5c1e9d0a4b7c", files, true)

	// A sharded download interrupted before its second shard.
	sharded := map[string][]byte{"config.json": files["config.json"], "tokenizer.json": files["tokenizer.json"],
		"model-00001-of-00002.safetensors": files["model.safetensors"],
		"model.safetensors.index.json":     []byte(`{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}`)}
	partialRepo := filepath.Dir(filepath.Dir(hfRepoFake(t, hub, "meta-llama/Llama-3.2-1B-Instruct", "aa11", sharded, true)))
	write(t, filepath.Join(partialRepo, "blobs", "3f9e.incomplete"), []byte("half a shard"))

	// Two snapshots and no refs/main: the newest is used, with a note.
	hfRepoFake(t, hub, "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "0001", files, false)

	// A snapshot file that links outside the cache.
	outside := t.TempDir()
	write(t, filepath.Join(outside, "tokenizer.json"), files["tokenizer.json"])
	evil := hfRepoFake(t, hub, "evil/escape", "c0ffee", map[string][]byte{"config.json": files["config.json"], "model.safetensors": files["model.safetensors"]}, true)
	symlink(t, filepath.Join(outside, "tokenizer.json"), filepath.Join(evil, "tokenizer.json"))
	// A dangling link that never pointed into the cache.
	dangling := hfRepoFake(t, hub, "evil/dangling", "c0ffee", map[string][]byte{"config.json": files["config.json"], "tokenizer.json": files["tokenizer.json"]}, true)
	symlink(t, "../../../../../../../../../../nowhere/model.safetensors", filepath.Join(dangling, "model.safetensors"))

	// Datasets and odd folders are not models.
	mkdir(t, hub, "datasets--org--data", "snapshots", "x")
	mkdir(t, hub, "models--..--up", "snapshots", "x")
	write(t, filepath.Join(hub, "version.txt"), []byte("1"))

	r := Roots{HFHub: hub}
	entries := r.List()
	if len(entries) != 5 {
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name)
		}
		t.Fatalf("listed %v, want the five repositories", names)
	}

	qwen, ok := find(entries, "hf:Qwen/Qwen2.5-0.5B-Instruct")
	if !ok || !qwen.Complete || qwen.Err != nil || qwen.Facts == nil || qwen.Format != FormatSafetensors ||
		qwen.Quantization != "BF16" || qwen.SizeBytes != total || qwen.Source != SourceHuggingFace || qwen.Path != snap {
		t.Errorf("complete repository: %+v (want BF16, %d bytes, path %s)", qwen, total, snap)
	}
	if path, err := (Catalog{ModelsDir: t.TempDir(), Roots: r}).Resolve("hf:Qwen/Qwen2.5-0.5B-Instruct"); err != nil || path != snap {
		t.Errorf("resolve: %q, %v", path, err)
	}

	llama, _ := find(entries, "hf:meta-llama/Llama-3.2-1B-Instruct")
	if llama.Complete || !strings.Contains(llama.Note, "model-00002-of-00002.safetensors") || !strings.Contains(llama.Note, "unfinished") {
		t.Errorf("interrupted download: %+v", llama)
	}
	if _, err := r.Resolve("hf:meta-llama/Llama-3.2-1B-Instruct"); !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), "not completely downloaded") {
		t.Errorf("resolving an interrupted download: %v", err)
	}

	tiny, _ := find(entries, "hf:TinyLlama/TinyLlama-1.1B-Chat-v1.0")
	if !tiny.Complete || tiny.Err != nil {
		t.Errorf("snapshot without refs/main: %+v", tiny)
	}

	for _, name := range []string{"hf:evil/escape", "hf:evil/dangling"} {
		e, _ := find(entries, name)
		if !errors.Is(e.Err, ErrOutside) || e.Facts != nil {
			t.Errorf("%s: %+v, want refused for linking outside", name, e)
		}
		if _, err := r.Resolve(name); !errors.Is(err, ErrUnusable) || !errors.Is(err, ErrOutside) {
			t.Errorf("resolving %s: %v", name, err)
		}
	}

	for _, bad := range []string{"hf:../x", "hf:a/../../b", "hf:.hidden/x", "hf:a/b/c/d", "hf:a//b", "hf:", "hf:a/b\x00"} {
		if _, err := r.Resolve(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("Resolve(%q) = %v, want ErrBadName", bad, err)
		}
	}
	if _, err := r.Resolve("hf:nobody/nothing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an absent repository: %v", err)
	}
}

// A cache moved to another disk and linked back is still the cache.
func TestHubCacheBehindASymlink(t *testing.T) {
	real := t.TempDir()
	hfRepoFake(t, real, "org/model", "abc", demoFolder(t), true)
	link := filepath.Join(t.TempDir(), "hub")
	symlink(t, real, link)
	e, err := Roots{HFHub: link}.Resolve("hf:org/model")
	if err != nil || e.Facts == nil {
		t.Fatalf("%+v %v", e, err)
	}
}

func ollamaFake(t *testing.T, root string, parts []string, fileType string, model []byte, writeBlob bool) string {
	return storetest.Ollama(t, root, parts, fileType, model, writeBlob)
}

func TestOllama(t *testing.T) {
	root := t.TempDir()
	realPath := filepath.Join(t.TempDir(), "m.gguf")
	storetest.GGUF(t, realPath, "")
	real, err := os.ReadFile(realPath)
	if err != nil {
		t.Fatal(err)
	}
	gguf := []byte("GGUF\x03\x00\x00\x00 not a real model, the blob's bytes")
	blob := ollamaFake(t, root, []string{"registry.ollama.ai", "library", "llama3.2", "1b"}, "Q4_K_M", real, true)
	ollamaFake(t, root, []string{"registry.ollama.ai", "someone", "tuned", "latest"}, "Q8_0", append(gguf, 'x'), true)
	ollamaFake(t, root, []string{"hf.co", "bartowski", "Llama-3.2-1B-Instruct-GGUF", "Q4_K_M"}, "Q4_K_M", append(gguf, 'y'), true)
	ollamaFake(t, root, []string{"registry.ollama.ai", "library", "qwen2.5", "0.5b"}, "Q4_K_M", append(gguf, 'z'), false)

	r := Roots{Ollama: root}
	entries := r.List()
	// The header's type wins over the manifest's config where the header
	// is readable (the real file is BF16); the others keep the config's.
	want := map[string]string{"ollama:llama3.2:1b": "BF16", "ollama:someone/tuned:latest": "Q8_0",
		"ollama:hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M": "Q4_K_M", "ollama:qwen2.5:0.5b": "Q4_K_M"}
	if len(entries) != len(want) {
		t.Fatalf("listed %+v", entries)
	}
	for _, e := range entries {
		q, ok := want[e.Name]
		if !ok || e.Quantization != q || e.Format != FormatGGUF || e.Source != SourceOllama {
			t.Errorf("entry %+v", e)
		}
	}
	llama, _ := find(entries, "ollama:llama3.2:1b")
	if !llama.Complete || llama.Path != blob || llama.SizeBytes != int64(len(real)) || llama.Err != nil || llama.Facts == nil || llama.Facts.Layers != 2 {
		t.Errorf("llama3.2:1b: %+v, want the blob %s read from its header", llama, blob)
	}
	if e, err := r.Resolve("ollama:llama3.2:1b"); err != nil || e.Path != blob {
		t.Errorf("resolve: %+v %v", e, err)
	}
	if tuned, _ := find(entries, "ollama:someone/tuned:latest"); tuned.Err == nil {
		t.Errorf("a blob that is not a GGUF file was accepted: %+v", tuned)
	}
	qwen, _ := find(entries, "ollama:qwen2.5:0.5b")
	if qwen.Complete || !strings.Contains(qwen.Note, "ollama pull qwen2.5:0.5b") {
		t.Errorf("missing blob: %+v", qwen)
	}
	e, err := r.Resolve("ollama:hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M")
	if e.Name != "ollama:hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M" || (err != nil && !errors.Is(err, ErrUnusable)) {
		t.Errorf("resolve another registry's model: %+v %v", e, err)
	}
	if _, err := r.Resolve("ollama:llama3.2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ollama:llama3.2 (tag latest, not pulled): %v", err)
	}
	for _, bad := range []string{"ollama:../../etc/passwd", "ollama:a/b/c/d:x", "ollama:llama3.2:../1b", "ollama:.x:1b"} {
		if _, err := r.Resolve(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("Resolve(%q) = %v, want ErrBadName", bad, err)
		}
	}

	// A blob that links outside ollama's folder is refused.
	outside := filepath.Join(t.TempDir(), "elsewhere.gguf")
	write(t, outside, real)
	os.Remove(blob)
	symlink(t, outside, blob)
	if _, err := r.Resolve("ollama:llama3.2:1b"); !errors.Is(err, ErrOutside) {
		t.Errorf("a blob linking outside: %v", err)
	}
}

func TestLMStudio(t *testing.T) {
	root := t.TempDir()
	storetest.GGUF(t, filepath.Join(root, "lmstudio-community", "Qwen2.5-0.5B-Instruct-GGUF", "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf"), "")
	write(t, filepath.Join(root, "lmstudio-community", "Qwen2.5-0.5B-Instruct-GGUF", "mmproj-model-f16.gguf"), []byte("GGUF..."))
	write(t, filepath.Join(root, "lmstudio-community", "Qwen2.5-0.5B-Instruct-GGUF", "README.md"), []byte("# card"))
	mlx := mkdir(t, root, "mlx-community", "Tiny")
	for name, data := range demoFolder(t) {
		write(t, filepath.Join(mlx, name), data)
	}
	other := t.TempDir()
	symlink(t, root, filepath.Join(other, "models")) // ~/.cache/lm-studio linked to ~/.lmstudio

	r := Roots{LMStudio: []string{root, filepath.Join(other, "models"), filepath.Join(t.TempDir(), "absent")}}
	entries := r.List()
	if len(entries) != 2 {
		t.Fatalf("listed %+v; want the GGUF file and the folder, once", entries)
	}
	g, _ := find(entries, "lmstudio:lmstudio-community/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf")
	if g.Format != FormatGGUF || g.SizeBytes < 1000 || !g.Complete || g.Err != nil || g.Quantization != "BF16" || g.Facts == nil {
		t.Errorf("GGUF entry %+v", g)
	}
	if e, err := r.Resolve(g.Name); err != nil || e.Path != g.Path {
		t.Errorf("resolve the GGUF file: %+v %v", e, err)
	}
	f, _ := find(entries, "lmstudio:mlx-community/Tiny")
	if f.Facts == nil || f.Err != nil || f.Path != mlx {
		t.Errorf("folder entry %+v", f)
	}
	if p, err := r.Resolve("lmstudio:mlx-community/Tiny"); err != nil || p.Path != mlx {
		t.Errorf("resolve folder: %+v %v", p, err)
	}
	for _, bad := range []string{"lmstudio:a/b/../../c.gguf", "lmstudio:a", "lmstudio:a/b/README.md", "lmstudio:../b/c.gguf"} {
		if _, err := r.Resolve(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("Resolve(%q) = %v, want ErrBadName", bad, err)
		}
	}
}

func TestDefaultRoots(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		env        map[string]string
		hf, ollama string
	}{
		{map[string]string{}, "/h/.cache/huggingface/hub", "/h/.ollama/models"},
		{map[string]string{"XDG_CACHE_HOME": "/x"}, "/x/huggingface/hub", "/h/.ollama/models"},
		{map[string]string{"HF_HOME": "/hf", "XDG_CACHE_HOME": "/x"}, "/hf/hub", "/h/.ollama/models"},
		{map[string]string{"HF_HUB_CACHE": "/c", "HF_HOME": "/hf", "OLLAMA_MODELS": "/o"}, "/c", "/o"},
	}
	for _, c := range cases {
		r := DefaultRoots(env(c.env), "/h")
		if r.HFHub != c.hf || r.Ollama != c.ollama || len(r.LMStudio) != 2 || r.LMStudio[0] != "/h/.lmstudio/models" || r.LMStudio[1] != "/h/.cache/lm-studio/models" {
			t.Errorf("%v: %+v", c.env, r)
		}
	}
}

func TestCatalog(t *testing.T) {
	modelsDir := t.TempDir()
	if _, err := demo.WriteSpec(modelsDir, demo.Spec{Name: "local", Hidden: 32, Intermediate: 64, Layers: 2, Heads: 4, KVHead: 2,
		Vocab: tokenizer.DemoVocabSize(demo.TokenizerMerges) + 8, Description: "test"}); err != nil {
		t.Fatal(err)
	}
	hub := t.TempDir()
	hfRepoFake(t, hub, "org/model", "abc", demoFolder(t), true)
	c := Catalog{ModelsDir: modelsDir, Roots: Roots{HFHub: hub, Ollama: filepath.Join(hub, "absent")}}
	entries, err := c.List()
	if err != nil || len(entries) != 2 || entries[0].Name != "local" || entries[0].Source != SourceModelsFolder || !entries[0].Demo ||
		entries[0].SizeBytes == 0 || entries[1].Name != "hf:org/model" {
		t.Fatalf("catalog %+v %v", entries, err)
	}
	if p, err := c.Resolve("local"); err != nil || p != filepath.Join(modelsDir, "local") {
		t.Errorf("resolve local: %q %v", p, err)
	}
	if _, err := c.Resolve("../local"); !errors.Is(err, ErrBadName) {
		t.Errorf("models-folder traversal: %v", err)
	}
	if _, err := c.Resolve("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("absent: %v", err)
	}
}

// A hub repository of GGUF files lists each file (not the vision
// projector) as hf:ORG/NAME/FILE.gguf.
func TestHubGGUFRepository(t *testing.T) {
	hub := t.TempDir()
	p := filepath.Join(t.TempDir(), "m.gguf")
	storetest.GGUF(t, p, "")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	hfRepoFake(t, hub, "bartowski/Llama-3.2-1B-Instruct-GGUF", "f00d", map[string][]byte{
		"Llama-3.2-1B-Instruct-Q4_K_M.gguf": data, "mmproj-f16.gguf": data, "README.md": []byte("# card")}, true)
	r := Roots{HFHub: hub}
	entries := r.List()
	if len(entries) != 1 || entries[0].Name != "hf:bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf" ||
		entries[0].Format != FormatGGUF || entries[0].Facts == nil || entries[0].Err != nil {
		t.Fatalf("entries %+v", entries)
	}
	if e, err := r.Resolve(entries[0].Name); err != nil || e.Path != entries[0].Path {
		t.Errorf("resolve: %+v %v", e, err)
	}
}
