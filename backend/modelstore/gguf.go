package modelstore

import "energyprofiler/backend/model"

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
