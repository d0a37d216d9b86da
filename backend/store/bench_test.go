package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkStoreDeepRun times what happens after generation ends for a
// deep-mode run of 512 tokens on a 12-layer model: Finish (attribution of
// every phase, token and component call) plus the store's commit. Target: < 1 s.
func BenchmarkStoreDeepRun(b *testing.B) {
	st := openTemp(b)
	ctx := context.Background()
	s := spec{model: "m", prompt: "bench", tokens: 512, layers: 12, depth: "deep", watts: 20}
	var finishNs, storeNs int64
	defer func() {
		b.ReportMetric(float64(finishNs)/float64(b.N)/1e6, "finish-ms/run")
		b.ReportMetric(float64(storeNs)/float64(b.N)/1e6, "store-ms/run")
	}()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		run, err := startRun(s, st)
		if err != nil {
			b.Fatal(err)
		}
		generate(run, s)
		b.StartTimer()
		t0 := time.Now()
		if _, err := run.Finish(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := st.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		finishNs += t1.Sub(t0).Nanoseconds()
		storeNs += time.Since(t1).Nanoseconds()
		b.ReportMetric(float64(len(run.Record().Components)), "components/run")
	}
}

// BenchmarkList10k lists the first page of 10,000 stored runs, filtered and
// sorted by energy. Target: < 100 ms.
func BenchmarkList10k(b *testing.B) {
	st := openTemp(b)
	ctx := context.Background()
	base := makeRecord(b, spec{model: "m", prompt: "p", tags: []string{"t"}, tokens: 2, layers: 1, depth: "module", watts: 10}, nil)
	base.Components, base.Samples, base.Layers, base.Tokens = nil, nil, nil, nil
	for i := 0; i < 10000; i++ {
		r := *base
		r.Run.ID = fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
		r.Run.Prompt = fmt.Sprintf("prompt number %d about topic %d", i, i%37)
		r.Run.ModelName = fmt.Sprintf("model-%d", i%5)
		r.Run.Tags = []string{"t", fmt.Sprintf("g%d", i%10)}
		r.Run.CreatedAt = time.Unix(1700000000+int64(i)*60, 0)
		v := float64(i%997) + 0.5
		sum := *base.Summary
		sum.TotalEnergyJ.Value = &v
		r.Summary = &sum
		st.RunFinished(&r)
	}
	if err := st.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	qs := []Query{{}, {Sort: "energy", Limit: 50}, {Search: "topic 3", Model: "model-2", Tags: []string{"g2"}}, {Sort: "tokens_per_second", Offset: 5000}}
	names := []string{"default", "energy", "search+model+tag", "tok_s_offset5000"}
	for qi, q := range qs {
		b.Run(names[qi], func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				p, err := st.List(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				if p.Total == 0 {
					b.Fatal("no runs")
				}
			}
		})
	}
}
