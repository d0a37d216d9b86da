package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"
)

// ErrNoWeights is returned (wrapped) by Open when the folder has a
// config.json but no safetensors weights. Config-only facts are still
// available through LoadConfig.
var ErrNoWeights = errors.New("no safetensors weights (model.safetensors or model.safetensors.index.json)")

// Model is an opened model folder: its config and its memory-mapped,
// validated weights. Its methods other than Close are safe for concurrent
// use; Close must come after every use of its tensors.
type Model struct {
	Dir    string
	Config Config

	files   []*weightFile
	configs []FileStamp // config.json (and generation_config.json) as read
	tensors map[string]*Tensor
	layers  []LayerWeights
	ignored []string // stored tensors the architecture does not use
	facts   Facts
	gguf    *GGUF // the parsed header of a GGUF file; nil for a safetensors folder
}

// LayerWeights are one decoder layer's tensors under family-independent
// names. Biases are nil when the architecture has none. For Phi-3, Q/K/V
// are row views of the fused qkv_proj and Gate/Up of gate_up_proj.
type LayerWeights struct {
	InputNorm    *Tensor // [H]
	PostAttnNorm *Tensor // [H]

	Q *Tensor // [heads·head_dim, H]
	K *Tensor // [kv_heads·head_dim, H]
	V *Tensor // [kv_heads·head_dim, H]
	O *Tensor // [H, heads·head_dim]

	QBias, KBias, VBias, OBias *Tensor

	// QNorm and KNorm ([head_dim]) normalise each query and key head
	// before RoPE; nil unless Config.QKNorm.
	QNorm, KNorm *Tensor

	Gate *Tensor // [I, H]
	Up   *Tensor // [I, H]
	Down *Tensor // [H, I]

	GateBias, UpBias, DownBias *Tensor

	// PreFFNorm and PostFFNorm ([H]) are Gemma 3's norms before and after
	// the MLP; there PostAttnNorm normalises the attention output.
	PreFFNorm, PostFFNorm *Tensor

	// An MoE layer has a Router ([experts, H]) and Experts instead of Gate,
	// Up and Down; Qwen2-MoE adds a SharedExpert gated by
	// sigmoid(SharedExpertGate·x) (SharedExpertGate is [1, H]).
	Router           *Tensor
	Experts          []ExpertWeights
	SharedExpert     *ExpertWeights
	SharedExpertGate *Tensor

	FusedQKV    bool // Q, K and V are views of one qkv_proj tensor
	FusedGateUp bool // Gate and Up are views of one gate_up_proj tensor
}

// ExpertWeights are one expert's SwiGLU MLP: Gate and Up are [I, H], Down
// is [H, I] (Mixtral's w1, w3 and w2).
type ExpertWeights struct {
	Gate, Up, Down *Tensor
}

// weightFile is one mapped safetensors file.
type weightFile struct {
	path    string
	data    []byte
	stamp   FileStamp
	header  *Header
	release func() error
}

// Open reads dir's config.json (and generation_config.json), maps its
// safetensors weights (model.safetensors, or the shards listed in
// model.safetensors.index.json) and validates them against the config:
// every tensor present with its expected shape and a supported dtype, and
// the stored parameter count equal to the count derived from the config.
// A folder without weights gives an error wrapping ErrNoWeights.
//
// dir may also be a .gguf file (llama.cpp's format, quantized or not): see
// ConfigFromGGUF for how its metadata becomes the config.
func Open(dir string) (*Model, error) {
	if isGGUFFile(dir) {
		return openGGUF(dir)
	}
	// Stamp the config files before reading them, so a change made while
	// they are read shows up as a change afterwards.
	var configs []FileStamp
	for _, name := range []string{"config.json", "generation_config.json"} {
		if st, err := Stamp(filepath.Join(dir, name)); err == nil {
			configs = append(configs, st)
		}
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	paths, weightMap, err := findWeightFiles(dir)
	if err != nil {
		return nil, err
	}
	m := &Model{Dir: dir, Config: *cfg, configs: configs, tensors: map[string]*Tensor{}}
	if err := m.load(paths, weightMap); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// findWeightFiles locates the safetensors files. For a sharded model it
// also returns the index's tensor → file map.
func findWeightFiles(dir string) (paths []string, weightMap map[string]string, err error) {
	indexPath := filepath.Join(dir, "model.safetensors.index.json")
	data, err := os.ReadFile(indexPath)
	if err == nil {
		var index struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(data, &index); err != nil {
			return nil, nil, fmt.Errorf("%s: not valid JSON: %w", indexPath, err)
		}
		if len(index.WeightMap) == 0 {
			return nil, nil, fmt.Errorf("%s: weight_map is missing or empty", indexPath)
		}
		seen := map[string]bool{}
		for tensor, file := range index.WeightMap {
			if file == "" || file != filepath.Base(file) || file == "." || file == ".." || strings.ContainsAny(file, `/\`) {
				return nil, nil, fmt.Errorf("%s: tensor %q maps to %q; want a file name in the model folder", indexPath, tensor, file)
			}
			if !seen[file] {
				seen[file] = true
				paths = append(paths, filepath.Join(dir, file))
			}
		}
		slices.Sort(paths)
		return paths, index.WeightMap, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("read %s: %w", indexPath, err)
	}
	single := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(single); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, noWeightsError(dir)
		}
		return nil, nil, fmt.Errorf("stat %s: %w", single, err)
	}
	return []string{single}, nil, nil
}

// noWeightsError explains what the folder holds instead of weights this
// package can load.
func noWeightsError(dir string) error {
	shards, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if len(shards) > 0 {
		return fmt.Errorf("%s holds %s but neither model.safetensors nor model.safetensors.index.json: rename a single file to model.safetensors, or restore the index of a sharded model", dir, filepath.Base(shards[0]))
	}
	if ggufs, _ := filepath.Glob(filepath.Join(dir, "*.gguf")); len(ggufs) > 0 {
		return fmt.Errorf("%s: %w; it holds the GGUF file %s: point at that file instead of the folder", dir, ErrNoWeights, filepath.Base(ggufs[0]))
	}
	for _, pattern := range []string{"*.bin", "*.pt", "*.pth"} {
		if other, _ := filepath.Glob(filepath.Join(dir, pattern)); len(other) > 0 {
			return fmt.Errorf("%s: %w; it holds %s, a format this loader does not read: download the safetensors version or convert it", dir, ErrNoWeights, filepath.Base(other[0]))
		}
	}
	return fmt.Errorf("%s: %w", dir, ErrNoWeights)
}

// load maps and validates the files, then builds the per-layer view.
func (m *Model) load(paths []string, weightMap map[string]string) error {
	fileOf := map[string]string{}
	for _, path := range paths {
		wf, err := openWeightFile(path)
		if err != nil {
			return err
		}
		m.files = append(m.files, wf)
		for _, info := range wf.header.Tensors {
			if prev, dup := fileOf[info.Name]; dup {
				return fmt.Errorf("tensor %q is stored twice: in %s and %s", info.Name, prev, path)
			}
			fileOf[info.Name] = path
			key, used := m.Config.textModelName(info.Name)
			if !used {
				m.ignored = append(m.ignored, info.Name)
				continue
			}
			if !info.DType.Supported() {
				return fmt.Errorf("%s: tensor %q has dtype %s, which is not supported (supported: F32, F16, BF16); quantized weights cannot be loaded, use the original model", path, info.Name, info.DType)
			}
			if _, dup := m.tensors[key]; dup {
				return fmt.Errorf("%s: tensor %q is stored under two names", path, key)
			}
			start, end := wf.header.DataStart+info.Begin, wf.header.DataStart+info.End
			m.tensors[key] = &Tensor{Name: info.Name, DType: info.DType, Shape: info.Shape, Data: wf.data[start:end:end]}
			if key != info.Name {
				fileOf[key] = path
			}
		}
	}
	if weightMap != nil {
		stored := map[string]string{}
		for _, wf := range m.files {
			for _, info := range wf.header.Tensors {
				stored[info.Name] = wf.path
			}
		}
		if err := checkWeightMap(m.Dir, weightMap, stored); err != nil {
			return err
		}
	}
	// Refuse a config that overstates its weights before listing every
	// tensor it implies.
	var have int64
	for _, wf := range m.files {
		have += int64(len(wf.data))
	}
	if err := m.Config.CheckWeightBytes(have, MinSafetensorsBytesPerParam); err != nil {
		return fmt.Errorf("%s: %w", m.Dir, err)
	}
	if err := m.checkAgainstConfig(fileOf); err != nil {
		return err
	}
	m.facts = m.computeFacts()
	return m.buildLayers()
}

func openWeightFile(path string) (*weightFile, error) {
	data, stamp, release, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("open weights %s: %w", path, err)
	}
	header, err := ParseHeader(data)
	if err != nil {
		release()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &weightFile{path: path, data: data, stamp: stamp, header: header, release: release}, nil
}

// checkWeightMap checks that the index and the shards agree.
func checkWeightMap(dir string, weightMap, fileOf map[string]string) error {
	index := filepath.Join(dir, "model.safetensors.index.json")
	for _, name := range slices.Sorted(maps.Keys(weightMap)) {
		want := filepath.Join(dir, weightMap[name])
		got, ok := fileOf[name]
		if !ok {
			return fmt.Errorf("%s lists tensor %q in %s, but that file does not hold it", index, name, weightMap[name])
		}
		if got != want {
			return fmt.Errorf("%s lists tensor %q in %s, but it is in %s", index, name, weightMap[name], got)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(fileOf)) {
		if _, ok := weightMap[name]; !ok {
			return fmt.Errorf("%s holds tensor %q, which %s does not list", fileOf[name], name, index)
		}
	}
	return nil
}

// isIgnorableBuffer reports stored tensors transformers does not load as
// parameters: old checkpoints saved RoPE's inv_freq buffer.
func isIgnorableBuffer(name string) bool { return strings.HasSuffix(name, ".rotary_emb.inv_freq") }

// textModelName maps a stored tensor name to the name ExpectedTensors uses.
// A multimodal Gemma 3 checkpoint stores its text model under
// language_model.model. (transformers < 4.52) or model.language_model.
// (later), its head under language_model.lm_head, and a vision tower and
// projector the text model does not use (used is false for those).
func (c *Config) textModelName(stored string) (name string, used bool) {
	if !c.Gemma.Multimodal {
		return stored, true
	}
	for _, p := range []string{"vision_tower.", "multi_modal_projector.", "model.vision_tower.", "model.multi_modal_projector."} {
		if strings.HasPrefix(stored, p) {
			return "", false
		}
	}
	for _, p := range []string{"language_model.model.", "model.language_model."} {
		if rest, ok := strings.CutPrefix(stored, p); ok {
			return "model." + rest, true
		}
	}
	if rest, ok := strings.CutPrefix(stored, "language_model."); ok {
		return rest, true // language_model.lm_head.weight
	}
	return stored, true
}

// checkAgainstConfig checks that every tensor the config implies is present
// with its shape, and that nothing else is stored, so the stored parameter
// count equals the one derived from config.json.
func (m *Model) checkAgainstConfig(fileOf map[string]string) error {
	c := &m.Config
	expected := map[string]bool{}
	var missing []string
	for _, spec := range c.ExpectedTensors() {
		expected[spec.Name] = true
		t, ok := m.tensors[spec.Name]
		if !ok {
			missing = append(missing, fmt.Sprintf("%s %v", spec.Name, spec.Shape))
			continue
		}
		if !slices.Equal(t.Shape, spec.Shape) {
			return fmt.Errorf("%s: tensor %q has shape %v, want %v from config.json (%s, hidden %d, heads %d/%d, head_dim %d, intermediate %d, vocab %d): the weights do not match the config",
				fileOf[spec.Name], spec.Name, t.Shape, spec.Shape, c.ModelType, c.HiddenSize, c.NumHeads, c.NumKVHeads, c.HeadDim, c.IntermediateSize, c.VocabSize)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: %d tensor(s) that config.json (%s, %d layers, tied embeddings %v) requires are missing from the weights: %s",
			m.Dir, len(missing), c.ModelType, c.NumLayers, c.TieWordEmbeddings, abbreviate(missing))
	}

	var stored int64
	var unexpected []string
	for _, name := range slices.Sorted(maps.Keys(m.tensors)) {
		t := m.tensors[name]
		switch {
		case expected[name]:
			stored += shapeElements(t.Shape)
		case name == LMHeadName && c.TieWordEmbeddings,
			isIgnorableBuffer(name):
			// transformers ignores these when loading: a tied model uses
			// embed_tokens as its head.
			m.ignored = append(m.ignored, name)
		default:
			unexpected = append(unexpected, fmt.Sprintf("%s %v (in %s)", name, t.Shape, filepath.Base(fileOf[name])))
		}
	}
	want := c.Facts().ParamsTotal
	if len(unexpected) > 0 || stored != want {
		return fmt.Errorf("%s: the weights do not match config.json: config implies %d parameters, the expected tensors hold %d, and %d stored tensor(s) are not part of a %s model with %d layers: %s",
			m.Dir, want, stored, len(unexpected), c.ModelType, c.NumLayers, abbreviate(unexpected))
	}
	return nil
}

// buildLayers assembles the family-independent per-layer view.
func (m *Model) buildLayers() error {
	c := &m.Config
	qRows, kvRows := c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim
	m.layers = make([]LayerWeights, c.NumLayers)
	for i := range m.layers {
		p := layerPrefix(i)
		get := func(suffix string) *Tensor { return m.tensors[p+suffix] } // nil when absent
		l := LayerWeights{
			InputNorm:    get(inputNormSuffix),
			PostAttnNorm: get(postAttnNormSuffix),
			PreFFNorm:    get(preFFNormSuffix),
			PostFFNorm:   get(postFFNormSuffix),
			O:            get(projSuffix("self_attn", "o", "weight")),
			Down:         get(projSuffix("mlp", "down", "weight")),
			QBias:        get(projSuffix("self_attn", "q", "bias")),
			KBias:        get(projSuffix("self_attn", "k", "bias")),
			VBias:        get(projSuffix("self_attn", "v", "bias")),
			OBias:        get(projSuffix("self_attn", "o", "bias")),
			QNorm:        get(qNormSuffix),
			KNorm:        get(kNormSuffix),
			GateBias:     get(projSuffix("mlp", "gate", "bias")),
			UpBias:       get(projSuffix("mlp", "up", "bias")),
			DownBias:     get(projSuffix("mlp", "down", "bias")),
			FusedQKV:     c.FusedQKV,
			FusedGateUp:  c.FusedGateUp,
		}
		var err error
		if c.FusedQKV {
			if l.Q, l.K, l.V, err = splitRows(get(qkvSuffix), qRows, kvRows, kvRows); err != nil {
				return err
			}
		} else {
			l.Q = get(projSuffix("self_attn", "q", "weight"))
			l.K = get(projSuffix("self_attn", "k", "weight"))
			l.V = get(projSuffix("self_attn", "v", "weight"))
		}
		if c.IsMoELayer(i) {
			l.Router = get(routerSuffix(c))
			for e := range c.MoE.Experts {
				gate, up, down := expertSuffixes(c, e)
				l.Experts = append(l.Experts, ExpertWeights{Gate: get(gate), Up: get(up), Down: get(down)})
			}
			if c.HasSharedExpert() {
				l.SharedExpert = &ExpertWeights{Gate: get(sharedExpertPrefix + "gate_proj.weight"), Up: get(sharedExpertPrefix + "up_proj.weight"), Down: get(sharedExpertPrefix + "down_proj.weight")}
				l.SharedExpertGate = get(sharedExpertGateSuffix)
			}
			l.Down = nil
		} else if c.FusedGateUp {
			// chunk(2) in transformers: gate rows first, then up.
			if l.Gate, l.Up, _, err = splitRows(get(gateUpSuffix), c.IntermediateSize, c.IntermediateSize, 0); err != nil {
				return err
			}
		} else {
			l.Gate = get(projSuffix("mlp", "gate", "weight"))
			l.Up = get(projSuffix("mlp", "up", "weight"))
		}
		m.layers[i] = l
	}
	return nil
}

// splitRows cuts a fused tensor into up to three consecutive row views
// (c = 0: two), each marked with the fused tensor's name.
func splitRows(fused *Tensor, a, b, c int) (*Tensor, *Tensor, *Tensor, error) {
	view := *fused
	view.FusedFrom = fused.Name
	fused = &view
	first, err := fused.Rows(0, a)
	if err != nil {
		return nil, nil, nil, err
	}
	second, err := fused.Rows(a, b)
	if err != nil {
		return nil, nil, nil, err
	}
	var third *Tensor
	if c > 0 {
		if third, err = fused.Rows(a+b, c); err != nil {
			return nil, nil, nil, err
		}
	}
	return first, second, third, nil
}

// Facts are the config-derived facts, confirmed by the weights: the counts
// were cross-checked by Open, and the dtype and byte sizes are the stored
// weights' own.
func (m *Model) Facts() Facts { return m.facts }

func (m *Model) computeFacts() Facts {
	f := m.Config.Facts()
	f.WeightsPresent = true
	f.Source = fmt.Sprintf("config.json, cross-checked against %d tensors in %d safetensors file(s)", len(m.Config.ExpectedTensors()), len(m.files))
	if m.Config.Gemma.Multimodal {
		f.Source += fmt.Sprintf("; the text model of an image-text checkpoint (%d vision tensors not counted)", len(m.ignored))
	}
	dt, bytes := m.weightDType()
	switch {
	case m.gguf != nil:
		f.Source = fmt.Sprintf("GGUF metadata (general.architecture %s), cross-checked against %d tensors", m.gguf.Architecture(), len(m.tensors))
		f.DType, f.DTypeSource = m.gguf.FileTypeName(), "GGUF general.file_type; the types of each tensor group are in tensor_types"
		if f.DType == "" {
			f.DType, f.DTypeSource = "mixed", "GGUF tensors (no general.file_type); see tensor_types"
		}
		if dt != Unknown {
			f.DType, f.DTypeSource = string(dt), "GGUF tensors"
		}
		// The engine keeps a float32 cache; llama.cpp, the tool these files
		// are made for, keeps F16. Report F16 so sizes compare across tools.
		f.KVCacheDType = string(F16)
		f.KVCacheBytesPerToken = 2 * int64(f.Layers) * int64(f.KVHeads) * int64(f.HeadDim) * int64(F16.Size())
	case dt != Unknown:
		f.setDType(dt, "safetensors")
	default:
		f.DType, f.DTypeSource = "mixed", "safetensors (tensors of several dtypes)"
		if m.Config.DType != Unknown {
			f.KVCacheDType = string(m.Config.DType)
			f.KVCacheBytesPerToken = 2 * int64(f.Layers) * int64(f.KVHeads) * int64(f.HeadDim) * int64(m.Config.DType.Size())
		}
	}
	f.WeightBytes = bytes
	f.TensorTypes, f.WeightBytesPerToken = m.tensorGroups()
	return f
}

// tensorGroups summarises the stored types per tensor role (summed over
// layers) and the weight bytes one decode step reads: every layer matrix and
// lm_head (the embedding when tied); the embedding lookup reads one row.
func (m *Model) tensorGroups() ([]TensorGroup, int64) {
	var groups []TensorGroup
	index := map[string]int{}
	var perToken int64
	for _, spec := range m.Config.ExpectedTensors() {
		t := m.tensors[spec.Name]
		name := spec.Name
		if rest, ok := strings.CutPrefix(name, "model.layers."); ok {
			_, name, _ = strings.Cut(rest, ".")
		}
		name = strings.TrimPrefix(strings.TrimSuffix(name, ".weight"), "model.")
		if len(t.Shape) == 1 {
			name = "norms and biases"
		}
		i, ok := index[name]
		if !ok {
			i = len(groups)
			index[name] = i
			groups = append(groups, TensorGroup{Group: name, Types: map[string]int{}})
		}
		g := &groups[i]
		g.Types[string(t.DType)]++
		g.Params += spec.Elements()
		g.Bytes += int64(len(t.Data))
		if len(t.Shape) == 2 && spec.Name != EmbeddingName {
			perToken += int64(len(t.Data))
		}
	}
	if m.Config.TieWordEmbeddings {
		perToken += int64(len(m.Embedding().Data))
	}
	for i := range groups {
		if g := &groups[i]; g.Params > 0 {
			g.BitsPerWeight = float64(8*g.Bytes) / float64(g.Params)
		}
	}
	return groups, perToken
}

// weightDType is the dtype shared by all used tensors (Unknown if they
// differ) and their total bytes.
func (m *Model) weightDType() (DType, int64) {
	dt := Unknown
	var bytes int64
	first := true
	for _, spec := range m.Config.ExpectedTensors() {
		t := m.tensors[spec.Name]
		bytes += int64(len(t.Data))
		if first {
			dt, first = t.DType, false
		} else if t.DType != dt {
			dt = Unknown
			first = false
		}
	}
	return dt, bytes
}

// Embedding is model.embed_tokens.weight, [vocab, hidden].
func (m *Model) Embedding() *Tensor { return m.tensors[EmbeddingName] }

// FinalNorm is model.norm.weight, [hidden].
func (m *Model) FinalNorm() *Tensor { return m.tensors[FinalNormName] }

// LMHead is lm_head.weight, [vocab, hidden], or the embedding when the
// embeddings are tied.
func (m *Model) LMHead() *Tensor {
	if m.Config.TieWordEmbeddings {
		return m.Embedding()
	}
	return m.tensors[LMHeadName]
}

// Layer is decoder layer i's weights; it panics if i is out of range, like
// a slice index.
func (m *Model) Layer(i int) LayerWeights { return m.layers[i] }

// Tensor returns a stored tensor by its Hugging Face name.
func (m *Model) Tensor(name string) (*Tensor, bool) {
	t, ok := m.tensors[name]
	return t, ok
}

// TensorNames lists the stored tensors, sorted.
func (m *Model) TensorNames() []string { return slices.Sorted(maps.Keys(m.tensors)) }

// Files lists the safetensors files, sorted.
func (m *Model) Files() []string {
	out := make([]string, len(m.files))
	for i, f := range m.files {
		out[i] = f.path
	}
	return out
}

// CheckFiles reports whether the model's files are still the ones it was
// opened from: every weight file with the size, modification time and
// inode it was mapped with, and config.json as read. A weight file
// truncated under its mapping makes the next read of a lost page kill the
// process (SIGBUS), and one rewritten in place silently feeds other bytes
// to the old tensor offsets, so a caller that keeps a Model open between
// uses (a model cache) must call this before each use and reopen the
// model when it fails.
func (m *Model) CheckFiles() error {
	for _, f := range m.files {
		if err := f.stamp.Check(); err != nil {
			return err
		}
	}
	for _, st := range m.configs {
		if err := st.Check(); err != nil {
			return err
		}
	}
	return nil
}

// ReleasePages tells the OS that b, tensor bytes of m's mapped weight
// files, is not needed for now: an engine that copied those weights into a
// layout of its own calls it, so the model is not resident twice. The
// pages stay in the page cache and a later read maps them back, so b stays
// valid. b that is not inside one of m's mappings (a copy, or a build that
// reads files instead of mapping them) is left alone.
func (m *Model) ReleasePages(b []byte) error {
	if !mapped || len(b) == 0 {
		return nil
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for _, f := range m.files {
		if f.release == nil || len(f.data) == 0 {
			continue
		}
		base := uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))
		if start >= base && start+uintptr(len(b)) <= base+uintptr(len(f.data)) {
			return releasePages(b)
		}
	}
	return nil
}

// Close unmaps the weights. Tensors must not be used afterwards. It is safe
// to call more than once.
func (m *Model) Close() error {
	var errs []error
	for _, f := range m.files {
		if f.release != nil {
			if err := f.release(); err != nil {
				errs = append(errs, fmt.Errorf("unmap %s: %w", f.path, err))
			}
			f.release = nil
			f.data = nil
		}
	}
	m.files = nil
	m.tensors = map[string]*Tensor{}
	m.layers = nil
	return errors.Join(errs...)
}

// abbreviate joins a list for an error message, eliding past ten entries.
func abbreviate(items []string) string {
	const max = 10
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:max], ", ") + fmt.Sprintf(", … (%d more)", len(items)-max)
}
