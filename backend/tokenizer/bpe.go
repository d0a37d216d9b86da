package tokenizer

import (
	"fmt"
	"sync"
	"unicode/utf8"
)

// bpe is the BPE model: it turns one pre-tokenized word into ids by starting
// from single characters and applying merges, lowest rank first (rank = the
// merge's index in tokenizer.json), leftmost first among equal ranks. This is
// the order Hugging Face tokenizers uses.
type bpe struct {
	vocab        map[string]int
	maxID        int
	merges       map[uint64]mergeResult // pairKey(left, right) -> merge
	unkID        int                    // -1: no unk token
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	contPrefix   string // continuing_subword_prefix (rare for BPE decoders we support)
	endSuffix    string // end_of_word_suffix
	byteIDs      [256]int
	cache        *wordCache
}

type mergeResult struct {
	rank int32
	id   int32
}

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func newBPE(m *modelJSON) (*bpe, error) {
	if len(m.Vocab) == 0 {
		return nil, fmt.Errorf("model.vocab is empty")
	}
	b := &bpe{vocab: m.Vocab, unkID: -1, fuseUnk: m.FuseUnk, byteFallback: m.ByteFallback,
		ignoreMerges: m.IgnoreMerges, cache: newWordCache(wordCacheEntries)}
	for p, id := range m.Vocab {
		if id < 0 || id > maxTokenID {
			return nil, fmt.Errorf("vocab entry %q has id %d, outside 0..%d", p, id, maxTokenID)
		}
		b.maxID = max(b.maxID, id)
	}
	if m.UnkToken != nil {
		id, ok := m.Vocab[*m.UnkToken]
		if !ok {
			return nil, fmt.Errorf("unk_token %q is not in the vocab", *m.UnkToken)
		}
		b.unkID = id
	}
	if m.ContinuingSubwordPrefix != nil {
		b.contPrefix = *m.ContinuingSubwordPrefix
	}
	if m.EndOfWordSuffix != nil {
		b.endSuffix = *m.EndOfWordSuffix
	}
	for i := range b.byteIDs {
		b.byteIDs[i] = -1
		if id, ok := m.Vocab[fmt.Sprintf("<0x%02X>", i)]; ok {
			b.byteIDs[i] = id
		}
	}
	merges, err := parseMerges(m.Merges)
	if err != nil {
		return nil, err
	}
	b.merges = make(map[uint64]mergeResult, len(merges))
	prefixLen := len(b.contPrefix)
	for rank, mg := range merges {
		left, okL := m.Vocab[mg[0]]
		right, okR := m.Vocab[mg[1]]
		if !okL || !okR {
			return nil, fmt.Errorf("merge %d (%q %q): token not in the vocab", rank, mg[0], mg[1])
		}
		// With a continuing-subword prefix the right part carries the prefix
		// but the merged token has it only once, at the front of the left part.
		mergedStr := mg[0] + mg[1][min(prefixLen, len(mg[1])):]
		merged, ok := m.Vocab[mergedStr]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q): merged token %q not in the vocab", rank, mg[0], mg[1], mergedStr)
		}
		k := pairKey(left, right)
		if _, dup := b.merges[k]; !dup { // the first (lowest rank) occurrence wins
			b.merges[k] = mergeResult{rank: int32(rank), id: int32(merged)}
		}
	}
	return b, nil
}

func (b *bpe) size() int { return b.maxID + 1 }

// tokenize appends the ids of word to dst.
func (b *bpe) tokenize(word string, dst []int) []int {
	if b.ignoreMerges {
		if id, ok := b.vocab[word]; ok {
			return append(dst, id)
		}
	}
	if ids, ok := b.cache.get(word); ok {
		return append(dst, ids...)
	}
	start := len(dst)
	dst = b.mergeWord(word, dst)
	b.cache.put(word, dst[start:])
	return dst
}

// symbol is one current part of a word during merging; parts form a doubly
// linked list over the initial characters.
type symbol struct {
	id         int
	prev, next int
	gone       bool // merged into its left neighbour
}

// mergeWord splits word into initial symbols (characters, with byte fallback
// and unk handling as Hugging Face does) and applies all merges.
func (b *bpe) mergeWord(word string, dst []int) []int {
	syms := make([]symbol, 0, len(word))
	pendingUnk := false // an unk symbol waiting to be fused with the next unknown char
	addSym := func(id int) {
		syms = append(syms, symbol{id: id, prev: len(syms) - 1, next: len(syms) + 1})
	}
	for i := 0; i < len(word); {
		_, size := utf8.DecodeRuneInString(word[i:])
		s := word[i : i+size]
		last := i+size == len(word)
		first := i == 0
		i += size
		if !first && b.contPrefix != "" {
			s = b.contPrefix + s
		}
		if last && b.endSuffix != "" {
			s += b.endSuffix
		}
		if id, ok := b.vocab[s]; ok {
			pendingUnk = false
			addSym(id)
			continue
		}
		if b.byteFallback {
			all := true
			for j := 0; j < len(s); j++ {
				if b.byteIDs[s[j]] < 0 {
					all = false
					break
				}
			}
			if all {
				pendingUnk = false
				for j := 0; j < len(s); j++ {
					addSym(b.byteIDs[s[j]])
				}
				continue
			}
		}
		if b.unkID >= 0 {
			if pendingUnk && b.fuseUnk {
				continue
			}
			addSym(b.unkID)
			pendingUnk = true
		}
		// Without an unk token an unknown character is dropped, as in Hugging Face.
	}
	if len(syms) == 0 {
		return dst
	}
	syms[len(syms)-1].next = -1

	q := make(mergeQueue, 0, len(syms))
	for i := 0; i+1 < len(syms); i++ {
		if m, ok := b.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			q.push(mergeCand{rank: m.rank, pos: int32(i), id: m.id})
		}
	}
	for len(q) > 0 {
		c := q.pop()
		pos := int(c.pos)
		s := &syms[pos]
		if s.gone || s.next < 0 {
			continue
		}
		next := s.next
		if m, ok := b.merges[pairKey(s.id, syms[next].id)]; !ok || m.id != c.id {
			continue // stale: one side changed since this candidate was queued
		}
		s.id = int(c.id)
		syms[next].gone = true
		s.next = syms[next].next
		if s.next >= 0 {
			syms[s.next].prev = pos
		}
		if s.prev >= 0 {
			if m, ok := b.merges[pairKey(syms[s.prev].id, s.id)]; ok {
				q.push(mergeCand{rank: m.rank, pos: int32(s.prev), id: m.id})
			}
		}
		if s.next >= 0 {
			if m, ok := b.merges[pairKey(s.id, syms[s.next].id)]; ok {
				q.push(mergeCand{rank: m.rank, pos: int32(pos), id: m.id})
			}
		}
	}
	for i := 0; i >= 0; i = syms[i].next {
		dst = append(dst, syms[i].id)
	}
	return dst
}

type mergeCand struct {
	rank, pos, id int32
}

// mergeQueue is a binary min-heap of merge candidates ordered by (rank,
// position). It is hand-written rather than container/heap so that pushes
// do not box candidates into interfaces on the hot path.
type mergeQueue []mergeCand

func (c mergeCand) less(o mergeCand) bool {
	if c.rank != o.rank {
		return c.rank < o.rank
	}
	return c.pos < o.pos
}

func (q *mergeQueue) push(c mergeCand) {
	h := append(*q, c)
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h[i].less(h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
	*q = h
}

func (q *mergeQueue) pop() mergeCand {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		smallest, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h[l].less(h[smallest]) {
			smallest = l
		}
		if r < len(h) && h[r].less(h[smallest]) {
			smallest = r
		}
		if smallest == i {
			break
		}
		h[i], h[smallest] = h[smallest], h[i]
		i = smallest
	}
	*q = h
	return top
}

// wordCacheEntries bounds the per-tokenizer word cache; words longer than
// wordCacheMaxLen bytes are not cached (SentencePiece-style models see whole
// sentences as one word).
const (
	wordCacheEntries = 20000
	wordCacheMaxLen  = 256
)

// wordCache remembers the ids of recently seen words. When full it is
// cleared, which keeps it bounded without bookkeeping on the hot path.
type wordCache struct {
	mu  sync.RWMutex
	m   map[string][]int
	max int
}

func newWordCache(max int) *wordCache {
	return &wordCache{m: make(map[string][]int), max: max}
}

func (c *wordCache) get(word string) ([]int, bool) {
	if len(word) > wordCacheMaxLen {
		return nil, false
	}
	c.mu.RLock()
	ids, ok := c.m[word]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(word string, ids []int) {
	if len(word) > wordCacheMaxLen {
		return
	}
	cp := append([]int(nil), ids...)
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[word] = cp
	c.mu.Unlock()
}
