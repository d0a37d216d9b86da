package jsoncheck

import (
	"encoding/json"
	"reflect"
	"testing"
)

type inner struct {
	IDs  []int    `json:"ids"`
	Opt  []int    `json:"opt,omitempty"`
	Skip []int    `json:"-"`
	Ptr  *float64 `json:"ptr"`
}

type Embedded struct {
	Tags []string `json:"tags"`
}

type outer struct {
	Embedded
	Runs  []inner          `json:"runs"`
	ByKey map[string]inner `json:"by_key"`
	Any   any              `json:"any"`
	Raw   []byte           `json:"raw"`
	priv  []int
}

func TestNilSlices(t *testing.T) {
	v := outer{
		Runs:  []inner{{IDs: []int{1}}, {}},
		ByKey: map[string]inner{"b": {IDs: []int{}}, "a": {}},
		Any:   inner{IDs: nil},
		Raw:   []byte{},
	}
	want := []string{"$.tags", "$.runs[1].ids", "$.by_key.a.ids", "$.any.ids"}
	if got := NilSlices(v); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// What NilSlices reports is exactly what encodes as null.
	b, _ := json.Marshal(v)
	var back map[string]any
	json.Unmarshal(b, &back)
	if back["tags"] != nil || back["runs"].([]any)[1].(map[string]any)["ids"] != nil {
		t.Fatalf("encoding: %s", b)
	}
	if got := NilSlices(&outer{Runs: []inner{}, ByKey: map[string]inner{}, Raw: []byte{}, Embedded: Embedded{Tags: []string{}}}); len(got) != 0 {
		t.Errorf("clean value: %q", got)
	}
	// Decoding null gives nil, [] gives empty: the check works on decoded output.
	var d inner
	json.Unmarshal([]byte(`{"ids":null}`), &d)
	if got := NilSlices(d); !reflect.DeepEqual(got, []string{"$.ids"}) {
		t.Errorf("decoded null: %q", got)
	}
	json.Unmarshal([]byte(`{"ids":[]}`), &d)
	if got := NilSlices(d); len(got) != 0 {
		t.Errorf("decoded []: %q", got)
	}
}
