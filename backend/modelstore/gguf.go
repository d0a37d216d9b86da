package modelstore

// describeGGUF fills in what a GGUF file's header says about it. size is
// the file's size (-1: a dangling link, its blob missing).
func describeGGUF(e *Entry, path string, size int64) {
	if size < 0 {
		e.Note = "the file's blob is missing: the download did not finish"
		return
	}
	e.SizeBytes, e.Complete, e.Path = size, true, path
	e.Err = errGGUFPending
}
