package engine

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"energyprofiler/backend/engine/compute"
	"energyprofiler/backend/engine/metal"
	"energyprofiler/backend/engine/metal/metaltest"
	"energyprofiler/backend/model"
)

// floatCPU is the CPU backend on float32 copies of quantized weights: the
// products of the exactly decoded weights with float activations, which is
// what the Metal kernels compute (the CPU's own quantized kernels round the
// activations to int8 blocks first, as ggml's CPU path does).
type floatCPU struct {
	*compute.CPU
	decoded map[*byte]compute.Matrix
}

func newFloatCPU() *floatCPU {
	return &floatCPU{CPU: compute.NewCPU(1), decoded: map[*byte]compute.Matrix{}}
}

func (f *floatCPU) float(m compute.Matrix) compute.Matrix {
	if !m.DType.Quantized() {
		return m
	}
	key := unsafe.SliceData(m.Data)
	if d, ok := f.decoded[key]; ok {
		return d
	}
	v := compute.ToF32(m)
	d := compute.Matrix{DType: compute.F32, Rows: m.Rows, Cols: m.Cols, Data: unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))}
	f.decoded[key] = d
	return d
}

func (f *floatCPU) MatMul(out, x []float32, n int, w compute.Matrix, bias []float32) {
	f.CPU.MatMul(out, x, n, f.float(w), bias)
}

// MatVecs and GatedMatVec: the embedded CPU's fused products would read
// the quantized weights.
func (f *floatCPU) MatVecs(x []float32, ps []compute.Product) {
	for i := range ps {
		ps[i].W = f.float(ps[i].W)
	}
	f.CPU.MatVecs(x, ps)
}

func (f *floatCPU) GatedMatVec(x []float32, gate, up compute.Product, act compute.Activation) {
	gate.W, up.W = f.float(gate.W), f.float(up.W)
	f.CPU.GatedMatVec(x, gate, up, act)
}

func (f *floatCPU) AttentionBlock(x []float32, q, k, v compute.Product, a *compute.Attention, rot compute.Rotary) bool {
	return false // the float path: the caller runs the products, RoPE and attention one by one
}

func (f *floatCPU) Embed(out []float32, table compute.Matrix, ids []int) {
	f.CPU.Embed(out, f.float(table), ids)
}

// TestMetalGGUFFixtures runs every GGUF fixture file (llama.cpp's Q8_0,
// Q4_0, Q4_K_M, Q6_K and Q5_K_M quantizations, Q4_K_M for qwen3, and the
// F16/BF16 files) through the Metal backend on metaltest's fake device,
// the quantized weights wrapped in place from the memory-mapped file (GGUF
// aligns tensor data to 32 bytes, not to pages). It requires:
//   - logits after the prompt within 1e-4 of the float CPU path's
//     (floatCPU: the same products in another order);
//   - the same 16 greedy ids as the float CPU path, and the float64
//     reference's ids over the fixture's compared prefix;
//   - every matrix wrapped and none copied, and (on the fake devices) each
//     weight type's own mat-vec and embedding kernels dispatched.
func TestMetalGGUFFixtures(t *testing.T) {
	checkMetalGGUF(t, func(*testing.T) metal.Device { return metaltest.New() })
}

// TestMetalGGUFFixturesOnMSL is TestMetalGGUFFixtures with the MSL source
// itself running the kernels (metaltest.NewMSL).
func TestMetalGGUFFixturesOnMSL(t *testing.T) {
	checkMetalGGUF(t, mslDevice(t))
}

// TestMetalGGUFFixturesOnGPU is TestMetalGGUFFixtures on the GPU, where
// there is one (go test on a Mac).
func TestMetalGGUFFixturesOnGPU(t *testing.T) {
	dev, err := metal.Open()
	if err != nil {
		t.Skip(err)
	}
	dev.Close()
	checkMetalGGUF(t, func(t *testing.T) metal.Device {
		dev, err := metal.Open()
		if err != nil {
			t.Fatal(err)
		}
		return dev
	})
}

// mslDevice makes metaltest's device that runs the MSL source compiled for
// the CPU; it needs clang++ (CI installs it), without which the test is
// skipped.
func mslDevice(t *testing.T) func(*testing.T) metal.Device {
	dev, err := metaltest.NewMSL()
	if errors.Is(err, metaltest.ErrNoCompiler) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dev.Close()
	return func(t *testing.T) metal.Device {
		dev, err := metaltest.NewMSL()
		if err != nil {
			t.Fatal(err)
		}
		return dev
	}
}

func checkMetalGGUF(t *testing.T, newDevice func(*testing.T) metal.Device) {
	ctx := context.Background()
	for _, c := range loadGGUFCases(t) {
		t.Run(filepath.Base(c.File), func(t *testing.T) {
			path := filepath.Join(ggufFixtureDir, c.File)
			open := func(be compute.Backend) *Engine {
				m, err := model.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				e, err := New(m, Options{Backend: be, Context: 64, PrefillChunk: 8})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(e.Close)
				return e
			}
			dev := newDevice(t)
			be, err := metal.New(dev)
			if err != nil {
				t.Fatal(err)
			}
			gpu, ref := open(be), open(newFloatCPU())

			for _, e := range []*Engine{gpu, ref} {
				e.pos = 0
				if err := e.forward(ctx, c.PromptIDs); err != nil {
					t.Fatal(err)
				}
			}
			var scale, diff float64
			for i := range ref.logits {
				scale = max(scale, math.Abs(float64(ref.logits[i])))
				diff = max(diff, math.Abs(float64(ref.logits[i]-gpu.logits[i])))
			}
			if !(diff <= 1e-4*scale) {
				t.Errorf("logits after the prompt differ from the float CPU path's by %.3g (scale %.3g)", diff, scale)
			}

			req := Request{PromptIDs: c.PromptIDs, MaxTokens: len(c.IDs), IgnoreEOS: true, Sampling: Sampling{Greedy: true}}
			got, err := gpu.Generate(ctx, req, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.Generate(ctx, req, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.GeneratedIDs, want.GeneratedIDs) {
				t.Errorf("metal generated %v, the float CPU path %v", got.GeneratedIDs, want.GeneratedIDs)
			}
			if len(got.GeneratedIDs) < c.Compare || !slices.Equal(got.GeneratedIDs[:c.Compare], c.IDs[:c.Compare]) {
				t.Errorf("metal generated %v, reference %v (first %d compared)", got.GeneratedIDs, c.IDs, c.Compare)
			}
			t.Logf("%s: logits within %.2g of scale; %d/%d reference ids", c.Type, diff/scale, commonPrefix(got.GeneratedIDs, c.IDs), len(c.IDs))

			if st := be.Weights(); st.Copied != 0 || st.Wrapped == 0 {
				t.Errorf("weights: %+v; every matrix should be wrapped in place", st)
			}
			// The weight types' own kernels ran (the file's types, by name).
			fake, ok := dev.(*metaltest.Fake)
			if !ok {
				return
			}
			ran := map[string]bool{}
			for _, b := range fake.Batches {
				for _, p := range b.Passes {
					for _, d := range p.Dispatches {
						ran[metal.Kernels[d.Kernel]] = true
					}
				}
			}
			for _, dt := range []compute.DType{gpu.embed.DType, gpu.lmHead.DType, gpu.layers[0].q.DType, gpu.layers[0].down.DType} {
				kind := strings.ToLower(dt.String())
				if !ran["mul_mv_"+kind] && dt != gpu.embed.DType {
					t.Errorf("no mul_mv_%s dispatched for %s weights", kind, dt)
				}
			}
			if k := "embed_" + strings.ToLower(gpu.embed.DType.String()); !ran[k] {
				t.Errorf("no %s dispatched", k)
			}
		})
	}
}
