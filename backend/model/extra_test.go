package model

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestLlamaAttentionAndMLPBiases(t *testing.T) {
	cfg := strings.Replace(tinyConfigs()["llama"], `"eos_token_id": 2`, `"eos_token_id": 2, "attention_bias": true, "mlp_bias": true`, 1)
	m, err := Open(writeSynth(t, synth{config: cfg, dtype: F16}))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l := m.Layer(0)
	want := []struct {
		name string
		t    *Tensor
		len  int
	}{{"QBias", l.QBias, 16}, {"KBias", l.KBias, 8}, {"VBias", l.VBias, 8}, {"OBias", l.OBias, 16},
		{"GateBias", l.GateBias, 24}, {"UpBias", l.UpBias, 24}, {"DownBias", l.DownBias, 16}}
	for _, w := range want {
		if w.t == nil || !slices.Equal(w.t.Shape, []int{w.len}) {
			t.Errorf("%s = %+v, want shape [%d]", w.name, w.t, w.len)
		}
	}
	// 2 layers × (16+8+8+16 + 24+24+16) bias parameters on top of the plain model.
	if got, want := m.Facts().ParamsTotal, int64(5200+2*112); got != want {
		t.Errorf("params %d, want %d", got, want)
	}
}

func TestMixedDTypeFacts(t *testing.T) {
	dir := writeSynth(t, synth{config: tinyConfigs()["llama"], dtype: BF16, edit: func(ts map[string]*synthTensor) {
		for i := range 2 {
			ts[fmt.Sprintf("model.layers.%d.input_layernorm.weight", i)].dtype = F32
		}
	}})
	m, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := m.Facts()
	// 5200 parameters, 32 of them (two norms of 16) in F32.
	if f.DType != "mixed" || f.WeightBytes != (5200-32)*2+32*4 || f.KVCacheDType != "BF16" {
		t.Errorf("dtype %s weight bytes %d kv %s", f.DType, f.WeightBytes, f.KVCacheDType)
	}
}

func TestTensorViews(t *testing.T) {
	data, _ := EncodeFloat32s(F32, []float32{0, 1, 2, 3, 4, 5})
	tensor := &Tensor{Name: "x", DType: F32, Shape: []int{3, 2}, Data: data}
	rows, err := tensor.Rows(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := rows.Float32View(); !ok || !slices.Equal(v, []float32{2, 3, 4, 5}) || !slices.Equal(rows.Shape, []int{2, 2}) {
		t.Errorf("rows view %v %v %v", v, ok, rows.Shape)
	}
	if _, err := tensor.Rows(2, 2); err == nil {
		t.Error("rows past the end must fail")
	}
	if _, ok := tensor.Uint16View(); ok {
		t.Error("Uint16View of an F32 tensor must refuse")
	}
	misaligned := &Tensor{Name: "m", DType: F32, Shape: []int{1}, Data: append([]byte{0}, data[:4]...)[1:]}
	if _, ok := misaligned.Float32View(); ok {
		t.Error("Float32View of misaligned data must refuse")
	}
	if v, err := misaligned.Float32s(); err != nil || v[0] != 0 {
		t.Errorf("Float32s of misaligned data: %v %v", v, err)
	}
}
