package metaltest

import (
	"encoding/binary"
	"regexp"
	"strings"
	"testing"

	"energyprofiler/backend/engine/metal"
)

// TestSemanticsCoverEveryKernel: the fake has Go semantics for every
// kernel the backend dispatches, binding as many buffers as the MSL
// declares.
func TestSemanticsCoverEveryKernel(t *testing.T) {
	kernelRe := regexp.MustCompile(`(?s)kernel void (\w+)\((.*?)\)\s*\{`)
	slots := map[string]int{}
	for _, m := range kernelRe.FindAllStringSubmatch(metal.Source, -1) {
		slots[m[1]] = strings.Count(m[2], "[[buffer(") - 1
	}
	for _, name := range metal.Kernels {
		k, ok := kernels[name]
		if !ok {
			t.Errorf("no Go semantics for %s", name)
			continue
		}
		if k.buffers != slots[name] {
			t.Errorf("%s: the fake binds %d buffers, the MSL declares %d", name, k.buffers, slots[name])
		}
	}
	if len(kernels) != len(metal.Kernels) {
		t.Errorf("%d kernel semantics for %d kernels", len(kernels), len(metal.Kernels))
	}
}

// TestFakeRejectsBadDispatches: the checks that stand in for a GPU's
// silent failures.
func TestFakeRejectsBadDispatches(t *testing.T) {
	f := New()
	if err := f.Compile(metal.Source, metal.Kernels[:]); err != nil {
		t.Fatal(err)
	}
	out, _, _ := f.NewBuffer(64)
	args := func(a any) []byte {
		b, _ := binaryAppend(a)
		return b
	}
	scale := metal.Dispatch{Kernel: int(metal.KScale), Args: args(metal.EltArgs{N: 16, S: 2}), Buffers: []metal.Binding{{Buf: out}}, Groups: [3]int{1, 1, 1}, Threads: [3]int{32, 1, 1}}
	cases := map[string]func(d *metal.Dispatch){
		"ok":                 func(d *metal.Dispatch) {},
		"threads not x32":    func(d *metal.Dispatch) { d.Threads[0] = 20 },
		"unmade buffer":      func(d *metal.Dispatch) { d.Buffers[0].Buf = 99 },
		"misaligned offset":  func(d *metal.Dispatch) { d.Buffers[0].Off = 2 },
		"short args":         func(d *metal.Dispatch) { d.Args = d.Args[:4] },
		"out of range":       func(d *metal.Dispatch) { d.Args = args(metal.EltArgs{N: 17, S: 2}) },
		"missing buffer":     func(d *metal.Dispatch) { d.Buffers = nil },
		"empty grid":         func(d *metal.Dispatch) { d.Groups[1] = 0 },
		"uncompiled kernel":  func(d *metal.Dispatch) { d.Kernel = 99 },
		"2-D threadgroup":    func(d *metal.Dispatch) { d.Threads = [3]int{32, 2, 1} },
		"too many threads":   func(d *metal.Dispatch) { d.Threads[0] = 2048 },
		"mul_mv wrong group": func(d *metal.Dispatch) { d.Kernel = int(metal.KMulMVF32) },
	}
	for name, mutate := range cases {
		d := scale
		d.Buffers = append([]metal.Binding(nil), scale.Buffers...)
		mutate(&d)
		_, err := f.Run(&metal.Batch{Passes: []metal.Pass{{Dispatches: []metal.Dispatch{d}}}})
		if (err == nil) != (name == "ok") {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

// TestWrapIsPageSpan: wrapped data sits at its offset inside whole pages.
func TestWrapIsPageSpan(t *testing.T) {
	f := New()
	data := make([]byte, 100000)
	_, off, err := f.WrapBuffer(data[12345:67890])
	if err != nil {
		t.Fatal(err)
	}
	w := f.Wraps[0]
	if w.Base%16384 != 0 || w.Length%16384 != 0 || w.Off != off || w.Off+w.Bytes > w.Length || w.Off >= 16384 {
		t.Errorf("wrap %+v is not the page span of its data", w)
	}
}

func binaryAppend(a any) ([]byte, error) { return binary.Append(nil, binary.LittleEndian, a) }
