package model

import (
	"fmt"
	"os"
)

// FileStamp is a file's identity at one moment: which file (device and
// inode), its size and its modification time. Copying over a file (cp),
// truncating it or renaming another onto its name each change at least one
// of them.
type FileStamp struct {
	Path string
	info os.FileInfo
}

// Stamp records path's identity now.
func Stamp(path string) (FileStamp, error) {
	info, err := os.Stat(path)
	if err != nil {
		return FileStamp{}, err
	}
	return FileStamp{Path: path, info: info}, nil
}

// Check returns an error naming the file and what changed when path is no
// longer the file that was stamped.
func (s FileStamp) Check() error {
	if s.info == nil {
		return nil
	}
	now, err := os.Stat(s.Path)
	if err != nil {
		return fmt.Errorf("%s changed on disk since the model was loaded: %w", s.Path, err)
	}
	var what string
	switch {
	case !os.SameFile(s.info, now):
		what = "it was replaced by another file"
	case now.Size() != s.info.Size():
		what = fmt.Sprintf("its size went from %d to %d bytes", s.info.Size(), now.Size())
	case !now.ModTime().Equal(s.info.ModTime()):
		what = "it was rewritten"
	default:
		return nil
	}
	return fmt.Errorf("%s changed on disk since the model was loaded (%s)", s.Path, what)
}
