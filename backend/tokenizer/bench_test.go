package tokenizer

import (
	"strings"
	"testing"
)

// benchText is ~10 KB of mixed prose, code, numbers and non-Latin text.
func benchText(b *testing.B) string {
	b.Helper()
	var sb strings.Builder
	for sb.Len() < 10_000 {
		sb.WriteString(demoCorpus)
	}
	return sb.String()[:10_000]
}

func benchmarkEncode(b *testing.B, family string, cached bool) {
	tk := loadFamily(b, family)
	text := benchText(b)
	b.SetBytes(int64(len(text)))
	var n int
	for b.Loop() {
		if !cached {
			clear(tk.model.cache.m) // measure the merge loop, not the word cache
		}
		n = len(tk.Encode(text, false))
	}
	b.ReportMetric(float64(n), "tokens")
}

func BenchmarkEncode(b *testing.B) {
	for _, family := range []string{"qwen3", "mistral", "demo"} {
		b.Run(family+"/cold", func(b *testing.B) { benchmarkEncode(b, family, false) })
		b.Run(family+"/cached", func(b *testing.B) { benchmarkEncode(b, family, true) })
	}
}

func BenchmarkDecodeStream(b *testing.B) {
	for _, family := range []string{"qwen3", "mistral"} {
		b.Run(family, func(b *testing.B) {
			tk := loadFamily(b, family)
			ids := tk.Encode(benchText(b), false)
			for b.Loop() {
				sd := tk.NewStreamDecoder()
				for _, id := range ids {
					sd.Next(id)
				}
			}
			b.ReportMetric(float64(len(ids)), "tokens")
		})
	}
}

func BenchmarkLoad(b *testing.B) {
	data := readTestdata(b, "qwen3.tokenizer.json.gz")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
