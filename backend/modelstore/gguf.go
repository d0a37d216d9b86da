package modelstore

import (
	"path/filepath"
	"sort"

	"energyprofiler/backend/model"
)

// describeGGUF fills in what a GGUF file's header says about it (the
// header only: tensor data is never read to list a model). size is the
// file's size (-1: a dangling link, its blob missing).
func describeGGUF(e *Entry, path string, size int64) {
	if size < 0 {
		e.Note = "the file's blob is missing: the download did not finish"
		return
	}
	e.SizeBytes, e.Complete, e.Path = size, true, path
	facts, err := model.InspectGGUF(path)
	if err != nil {
		e.Err = err
		return
	}
	e.Facts = &facts
	e.Quantization = facts.DType
}

// ggufEntries lists the GGUF files of a folder (files: its file names and
// sizes, as checkFolder returns them), each as NAME/FILE of source, sorted.
func ggufEntries(dir, name string, files map[string]int64, source string) []Entry {
	var ggufs []string
	for f := range files {
		if isGGUFName(f) {
			ggufs = append(ggufs, f)
		}
	}
	sort.Strings(ggufs)
	out := make([]Entry, 0, len(ggufs))
	for _, f := range ggufs {
		e := Entry{Name: name + "/" + f, Source: source, Format: FormatGGUF}
		describeGGUF(&e, filepath.Join(dir, f), files[f])
		out = append(out, e)
	}
	return out
}
