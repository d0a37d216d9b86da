package metal

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The Go side and kernels.metal must agree on names, argument layouts and
// buffer slots; nothing on Linux compiles MSL, so these are read from the
// source itself.

var (
	mslStruct = regexp.MustCompile(`(?s)struct (\w+Args) \{(.*?)\};`)
	mslField  = regexp.MustCompile(`^\s*(\w+)\s+(\w+);`)
	mslKernel = regexp.MustCompile(`(?s)kernel void (\w+)\((.*?)\)\s*\{`)
	mslBuffer = regexp.MustCompile(`\[\[buffer\((\d+)\)\]\]`)
)

// snake turns a Go field name into its MSL twin: HasBias → has_bias,
// KVHeads → kv_heads, Pos0 → pos0.
func snake(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		if unicode.IsUpper(c) {
			if i > 0 && (unicode.IsLower(r[i-1]) || (i+1 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsUpper(r[i-1]))) {
				b.WriteByte('_')
			}
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}

func TestMSLArgumentStructsMatchGo(t *testing.T) {
	found := map[string]bool{}
	for _, m := range mslStruct.FindAllStringSubmatch(Source, -1) {
		name := m[1]
		found[name] = true
		goType, ok := ArgStructs[name]
		if !ok {
			t.Errorf("MSL struct %s has no Go twin in ArgStructs", name)
			continue
		}
		var fields [][2]string
		for _, line := range strings.Split(m[2], "\n") {
			if f := mslField.FindStringSubmatch(line); f != nil {
				fields = append(fields, [2]string{f[1], f[2]})
			}
		}
		rt := reflect.TypeOf(goType)
		if rt.NumField() != len(fields) {
			t.Errorf("%s: Go has %d fields, MSL %d", name, rt.NumField(), len(fields))
			continue
		}
		for i, f := range fields {
			gf := rt.Field(i)
			want := map[reflect.Kind]string{reflect.Uint32: "uint", reflect.Float32: "float"}[gf.Type.Kind()]
			if snake(gf.Name) != f[1] || want != f[0] {
				t.Errorf("%s field %d: Go %s %s, MSL %s %s", name, i, gf.Name, gf.Type, f[0], f[1])
			}
		}
	}
	for name := range ArgStructs {
		if !found[name] {
			t.Errorf("Go argument struct %s has no MSL struct", name)
		}
	}
	if snake("KVHeads") != "kv_heads" || snake("HasBias") != "has_bias" || snake("Pos0") != "pos0" {
		t.Fatal("snake() is wrong")
	}
}

func TestMSLKernelsMatchGo(t *testing.T) {
	defined := map[string]string{}
	for _, m := range mslKernel.FindAllStringSubmatch(Source, -1) {
		defined[m[1]] = m[2]
	}
	for _, name := range Kernels {
		params, ok := defined[name]
		if !ok {
			t.Errorf("kernel %s is not defined in kernels.metal", name)
			continue
		}
		// buffer(0) is the argument struct, then consecutive slots.
		slots := mslBuffer.FindAllStringSubmatch(params, -1)
		for i, s := range slots {
			if s[1] != string(rune('0'+i)) {
				t.Errorf("kernel %s: buffer slot %s at parameter %d; slots must be 0, 1, 2, …", name, s[1], i)
			}
		}
		if !strings.Contains(params, "constant ") || !strings.Contains(params, "Args & args [[buffer(0)]]") {
			t.Errorf("kernel %s: buffer(0) must be its constant …Args struct", name)
		}
		delete(defined, name)
	}
	for name := range defined {
		t.Errorf("kernels.metal defines %s, which Go never dispatches", name)
	}
}

func TestMSLConstantsMatchGo(t *testing.T) {
	def := regexp.MustCompile(`(?m)^#define (\w+) (\d+)`)
	want := map[string]int{"N_SIMDWIDTH": SIMDWidth, "MV_ROWS": MVRows, "MV_TOKENS": MVTokens, "ATT_THREADS": AttThreads, "ATT_MAX_HEAD_DIM": AttMaxHeadDim}
	got := map[string]string{}
	for _, m := range def.FindAllStringSubmatch(Source, -1) {
		got[m[1]] = m[2]
	}
	for name, v := range want {
		if got[name] != strconv.Itoa(v) {
			t.Errorf("#define %s is %q in kernels.metal, %d in Go", name, got[name], v)
		}
	}
}
