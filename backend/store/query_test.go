package store

import (
	"net/url"
	"reflect"
	"testing"
	"time"

	"energyprofiler/backend/profiler"
)

func TestParseQuery(t *testing.T) {
	v, _ := url.ParseQuery("search=fox&model=m1&tags=a,b&status=completed,failed&since=2026-01-02&until=2026-02-01T10:00:00Z&sort=energy&order=asc&limit=20&offset=40")
	q, err := ParseQuery(v)
	if err != nil {
		t.Fatal(err)
	}
	want := Query{Search: "fox", Model: "m1", Tags: []string{"a", "b"}, Status: []profiler.Status{"completed", "failed"},
		Since: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC),
		Sort: "energy", Asc: true, Limit: 20, Offset: 40}
	if !reflect.DeepEqual(q, want) {
		t.Errorf("got %+v\nwant %+v", q, want)
	}
	for _, bad := range []string{"status=done", "since=yesterday", "sort=size", "order=up", "limit=-1", "offset=x"} {
		v, _ := url.ParseQuery(bad)
		if _, err := ParseQuery(v); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}
