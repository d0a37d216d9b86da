package tokenizer

import (
	"encoding/json"
	"fmt"
)

// postProcessor adds special tokens around an encoded sequence when Encode
// is asked to.
type postProcessor interface {
	process(ids []int) []int
}

// leadingSpecial is implemented by post-processors that prepend a special
// token, which is then taken as the BOS token.
type leadingSpecial interface {
	leadingSpecial() (int, bool)
}

// templateProcessor is TemplateProcessing's "single" template: special
// tokens and the sequence ($A) in order.
type templateProcessor struct {
	items [][]int // nil entry: the sequence itself
}

func (p *templateProcessor) process(ids []int) []int {
	out := make([]int, 0, len(ids)+4)
	for _, it := range p.items {
		if it == nil {
			out = append(out, ids...)
		} else {
			out = append(out, it...)
		}
	}
	return out
}

func (p *templateProcessor) leadingSpecial() (int, bool) {
	if len(p.items) > 0 && len(p.items[0]) > 0 {
		return p.items[0][0], true
	}
	return 0, false
}

// clsSepProcessor is Bert/RobertaProcessing: cls + ids + sep.
type clsSepProcessor struct{ cls, sep int }

func (p clsSepProcessor) process(ids []int) []int {
	out := append([]int{p.cls}, ids...)
	return append(out, p.sep)
}

func (p clsSepProcessor) leadingSpecial() (int, bool) { return p.cls, true }

// noopProcessor is ByteLevel post-processing, which only adjusts offsets.
type noopProcessor struct{}

func (noopProcessor) process(ids []int) []int { return ids }

type postSeq []postProcessor

func (p postSeq) process(ids []int) []int {
	for _, x := range p {
		ids = x.process(ids)
	}
	return ids
}

func (p postSeq) leadingSpecial() (int, bool) {
	for _, x := range p {
		if l, ok := x.(leadingSpecial); ok {
			if id, ok := l.leadingSpecial(); ok {
				return id, true
			}
		}
	}
	return 0, false
}

var supportedPostProcessors = []string{"TemplateProcessing", "ByteLevel", "Sequence", "BertProcessing", "RobertaProcessing"}

func parsePostProcessor(raw json.RawMessage, idOf func(string) (int, bool)) (postProcessor, error) {
	if isNull(raw) {
		return nil, nil
	}
	var head typed
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, err
	}
	switch head.Type {
	case "TemplateProcessing":
		var tp struct {
			Single []struct {
				SpecialToken *struct {
					ID string `json:"id"`
				} `json:"SpecialToken"`
				Sequence *struct {
					ID string `json:"id"`
				} `json:"Sequence"`
			} `json:"single"`
			SpecialTokens map[string]struct {
				IDs []int `json:"ids"`
			} `json:"special_tokens"`
		}
		if err := json.Unmarshal(raw, &tp); err != nil {
			return nil, err
		}
		p := &templateProcessor{}
		for i, it := range tp.Single {
			switch {
			case it.Sequence != nil:
				p.items = append(p.items, nil)
			case it.SpecialToken != nil:
				st, ok := tp.SpecialTokens[it.SpecialToken.ID]
				ids := st.IDs
				if !ok || len(ids) == 0 {
					id, found := idOf(it.SpecialToken.ID)
					if !found {
						return nil, fmt.Errorf("TemplateProcessing item %d: special token %q is unknown", i, it.SpecialToken.ID)
					}
					ids = []int{id}
				}
				p.items = append(p.items, ids)
			default:
				return nil, fmt.Errorf("TemplateProcessing item %d: want SpecialToken or Sequence", i)
			}
		}
		return p, nil
	case "ByteLevel":
		return noopProcessor{}, nil
	case "Sequence":
		items, err := parseSequence(raw, "processors", func(r json.RawMessage) (postProcessor, error) { return parsePostProcessor(r, idOf) })
		return postSeq(items), err
	case "BertProcessing", "RobertaProcessing":
		var bp struct {
			Cls []json.RawMessage `json:"cls"`
			Sep []json.RawMessage `json:"sep"`
		}
		if err := json.Unmarshal(raw, &bp); err != nil {
			return nil, err
		}
		var cls, sep int
		if len(bp.Cls) != 2 || json.Unmarshal(bp.Cls[1], &cls) != nil || len(bp.Sep) != 2 || json.Unmarshal(bp.Sep[1], &sep) != nil {
			return nil, fmt.Errorf("%s: want cls and sep as [token, id]", head.Type)
		}
		return clsSepProcessor{cls, sep}, nil
	case "":
		return nil, errNoType
	}
	return nil, errUnsupported("post_processor", head.Type, supportedPostProcessors...)
}
