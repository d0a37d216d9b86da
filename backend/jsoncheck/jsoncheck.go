// Package jsoncheck holds every JSON output of the product (CLI --json, API
// bodies, exports) to one rule: a list is written as an array, never as
// null. A script that iterates over `"ids": null` fails where `[]` would
// simply be empty. NilSlices finds the slices in a Go value that
// encoding/json would write as null; tests decode each output into the Go
// type it was written from (decoding null gives a nil slice, [] an empty
// one) and ask NilSlices about it.
package jsoncheck

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// NilSlices returns the JSON paths (such as "run.tags" or "runs[2].ids") of
// the nil slices reachable from v that encoding/json would write as null.
// Fields tagged omitempty are left out when empty, never written as null,
// so they are not reported; nil pointers and interfaces are null by design
// (a number that was not measured) and not followed.
func NilSlices(v any) []string {
	var out []string
	walk(reflect.ValueOf(v), "$", &out, map[uintptr]bool{})
	return out
}

func walk(v reflect.Value, path string, out *[]string, seen map[uintptr]bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		walk(v.Elem(), path, out, seen)
	case reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), path, out, seen)
		}
	case reflect.Slice:
		if v.IsNil() {
			*out = append(*out, path)
			return
		}
		for i := range v.Len() {
			walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), out, seen)
		}
	case reflect.Array:
		for i := range v.Len() {
			walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), out, seen)
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			walk(v.MapIndex(k), fmt.Sprintf("%s.%v", path, k), out, seen)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" && opts == "" {
				continue
			}
			fv := v.Field(i)
			if f.Anonymous && name == "" {
				walk(fv, path, out, seen) // embedded fields are the parent's
				continue
			}
			if name == "" {
				name = f.Name
			}
			p := path + "." + name
			if fv.Kind() == reflect.Slice && fv.IsNil() && hasOpt(opts, "omitempty") {
				continue
			}
			walk(fv, p, out, seen)
		}
	}
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}
