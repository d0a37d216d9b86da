package store

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"energyprofiler/backend/profiler"
)

// ParseQuery reads a history query from URL parameters, for the API:
//
//	search=TEXT  model=NAME  tags=a,b  status=completed,failed
//	since=DATE  until=DATE (2006-01-02 or RFC 3339)
//	sort=date|duration|energy|joules_per_token|tokens_per_second  order=asc|desc
//	limit=N (default 50, at most 1000)  offset=N
//
// Errors name the parameter and what is accepted.
func ParseQuery(v url.Values) (Query, error) {
	q := Query{Search: v.Get("search"), Model: v.Get("model"), Sort: v.Get("sort")}
	for _, key := range []string{"tags", "tag"} {
		for _, t := range strings.Split(v.Get(key), ",") {
			if t = strings.TrimSpace(t); t != "" {
				q.Tags = append(q.Tags, t)
			}
		}
	}
	for _, s := range strings.Split(v.Get("status"), ",") {
		switch s = strings.TrimSpace(s); profiler.Status(s) {
		case "":
		case profiler.StatusRunning, profiler.StatusCompleted, profiler.StatusFailed, profiler.StatusCancelled, profiler.StatusInterrupted, profiler.StatusAbandoned:
			q.Status = append(q.Status, profiler.Status(s))
		default:
			return Query{}, fmt.Errorf("status %q: use running, completed, failed, cancelled, interrupted or abandoned", s)
		}
	}
	kinds, err := ParseKinds(v.Get("kind"))
	if err != nil {
		return Query{}, err
	}
	q.Kinds = kinds
	if q.Since, err = ParseDate(v.Get("since")); err != nil {
		return Query{}, fmt.Errorf("since: %w", err)
	}
	if q.Until, err = ParseDate(v.Get("until")); err != nil {
		return Query{}, fmt.Errorf("until: %w", err)
	}
	if err := ValidSort(q.Sort); err != nil {
		return Query{}, err
	}
	switch v.Get("order") {
	case "", "desc":
	case "asc":
		q.Asc = true
	default:
		return Query{}, fmt.Errorf("order %q: use asc or desc", v.Get("order"))
	}
	for _, p := range []struct {
		key string
		dst *int
	}{{"limit", &q.Limit}, {"offset", &q.Offset}} {
		if s := v.Get(p.key); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return Query{}, fmt.Errorf("%s %q: want a whole number ≥ 0", p.key, s)
			}
			*p.dst = n
		}
	}
	return q, nil
}

// ParseDate reads 2006-01-02, 2006-01-02T15:04 or RFC 3339; "" is the zero time.
func ParseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read date %q: use 2006-01-02 or RFC 3339", s)
}

// ParseKinds reads a comma-separated list of run kinds ("" is none).
func ParseKinds(s string) ([]string, error) {
	var out []string
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !slices.Contains(profiler.Kinds(), k) {
			return nil, fmt.Errorf("kind %q: use %s", k, strings.Join(profiler.Kinds(), ", "))
		}
		out = append(out, k)
	}
	return out, nil
}
