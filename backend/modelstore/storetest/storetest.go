// Package storetest writes fake model stores laid out the way
// huggingface_hub and ollama lay out theirs, for tests of the packages
// that read them.
package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// HubRepo writes files into a hub-cache repository as huggingface_hub
// does: the bytes in blobs/ named by their hash, the snapshot's entries as
// relative symlinks ../../blobs/HASH, and refs/main naming the commit when
// refMain is set. It returns the snapshot folder.
func HubRepo(t testing.TB, hub, repo, commit string, files map[string][]byte, refMain bool) string {
	t.Helper()
	repoDir := filepath.Join(hub, "models--"+strings.ReplaceAll(repo, "/", "--"))
	snap := filepath.Join(repoDir, "snapshots", commit)
	mkdirs(t, snap, filepath.Join(repoDir, "blobs"), filepath.Join(repoDir, "refs"))
	for name, data := range files {
		sum := sha256.Sum256(data)
		blob := hex.EncodeToString(sum[:])
		if err := os.WriteFile(filepath.Join(repoDir, "blobs", blob), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "blobs", blob), filepath.Join(snap, name)); err != nil {
			t.Fatal(err)
		}
	}
	if refMain {
		if err := os.WriteFile(filepath.Join(repoDir, "refs", "main"), []byte(commit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return snap
}

// ReadFolder reads the named files of a model folder, for HubRepo.
func ReadFolder(t testing.TB, dir string, names ...string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	return files
}

func mkdirs(t testing.TB, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
