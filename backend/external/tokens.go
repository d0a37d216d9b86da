package external

import (
	"fmt"
	"sort"
	"unicode/utf8"
)

// Token-count sources, as stored with a run.
const (
	sourceCounted = "counted (one token per streamed chunk)"
	promptSlack   = 4096 // tokens a chat template or system prompt may add
)

// tokenPlan is how many tokens each chunk carried and where the counts
// came from.
type tokenPlan struct {
	perChunk  []int
	outSource string
	in        int // -1: unknown
	inSource  string
	notes     []string
}

// planTokens decides the token counts of a finished stream (see the
// package doc for the rules).
func planTokens(s *Stream, req Request) tokenPlan {
	p := tokenPlan{perChunk: make([]int, len(s.Chunks)), in: -1, inSource: "unavailable (the server did not report it)"}
	chunks, bytes := len(s.Chunks), 0
	perChunkKnown := chunks > 0
	perChunkSum := 0
	for i, c := range s.Chunks {
		bytes += len(c.Text)
		p.perChunk[i] = 1
		if c.Tokens <= 0 {
			perChunkKnown = false
		}
		perChunkSum += c.Tokens
	}
	p.outSource = sourceCounted

	if n := s.CompletionTokens; n != nil {
		switch why := disbelieve(*n, chunks, bytes, req.MaxTokens); {
		case why != "":
			p.notes = append(p.notes, fmt.Sprintf("the server reported %d output tokens (%s) for %d chunks of text (%d bytes): not believed, %s; counted one token per chunk instead", *n, s.CompletionSource, chunks, bytes, why))
		case perChunkKnown && perChunkSum == *n:
			copy(p.perChunk, chunkCounts(s.Chunks))
			p.outSource = "reported by the server (" + s.CompletionSource + ", per chunk)"
		default:
			p.perChunk = spread(s.Chunks, *n)
			p.outSource = "reported by the server (" + s.CompletionSource + ")"
		}
	}
	if n := s.PromptTokens; n != nil {
		if *n < 1 || *n > len(req.Prompt)+promptSlack {
			p.notes = append(p.notes, fmt.Sprintf("the server reported %d prompt tokens (%s) for a prompt of %d bytes: not believed; prompt tokens are unavailable", *n, s.PromptSource, len(req.Prompt)))
		} else {
			p.in, p.inSource = *n, "reported by the server ("+s.PromptSource+")"
		}
	}
	return p
}

// disbelieve says why a reported output-token count cannot be true, or "".
func disbelieve(n, chunks, bytes, maxTokens int) string {
	switch {
	case n < 0:
		return "a negative count"
	case n < chunks:
		return "fewer tokens than chunks that carried text"
	case maxTokens > 0 && n > maxTokens:
		return fmt.Sprintf("more than the %d asked for", maxTokens)
	case n > bytes+chunks:
		return "more tokens than the text has bytes"
	}
	return ""
}

func chunkCounts(cs []Chunk) []int {
	out := make([]int, len(cs))
	for i, c := range cs {
		out[i] = c.Tokens
	}
	return out
}

// spread gives every chunk one token and the n − len(cs) others to chunks
// in proportion to their text's length (largest remainders first).
func spread(cs []Chunk, n int) []int {
	out := make([]int, len(cs))
	if len(cs) == 0 {
		return out
	}
	extra, total := n-len(cs), 0
	for i, c := range cs {
		out[i] = 1
		total += len(c.Text)
	}
	if extra <= 0 || total == 0 {
		return out
	}
	type rem struct {
		i    int
		frac float64
	}
	rems := make([]rem, len(cs))
	given := 0
	for i, c := range cs {
		share := float64(extra) * float64(len(c.Text)) / float64(total)
		whole := int(share)
		out[i] += whole
		given += whole
		rems[i] = rem{i, share - float64(whole)}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].frac > rems[b].frac })
	for k := 0; given < extra; k++ {
		out[rems[k%len(rems)].i]++
		given++
	}
	return out
}

// splitText cuts s into n pieces of (nearly) equal rune counts, keeping
// every rune whole; pieces past the text's runes are empty.
func splitText(s string, n int) []string {
	out := make([]string, n)
	runes := utf8.RuneCountInString(s)
	if n <= 1 {
		out[0] = s
		return out
	}
	start := 0
	idx := 0
	for k := 0; k < n; k++ {
		want := (k + 1) * runes / n // runes taken after piece k
		end := start
		for idx < want && end < len(s) {
			_, size := utf8.DecodeRuneInString(s[end:])
			end += size
			idx++
		}
		out[k] = s[start:end]
		start = end
	}
	out[n-1] += s[start:]
	return out
}
