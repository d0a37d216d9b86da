//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// A store that writes holds an exclusive flock on <db>.instances/<id>.lock
// while it is open. The kernel drops the lock when the process dies however
// it dies, and a lock is no PID: a restarted container whose server has the
// same PID as the dead one still sees the old instance gone.

func instanceDir(dbPath string) string { return dbPath + ".instances" }

// lockInstance creates and locks this store's instance file; release
// unlocks and removes it.
func lockInstance(dbPath, id string) (release func(), err error) {
	dir := instanceDir(dbPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create the instance lock folder: %w", err)
	}
	name := filepath.Join(dir, id+".lock")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create the instance lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() {
		os.Remove(name)
		f.Close()
	}, nil
}

// instanceAlive reports whether the store instance id still holds its lock.
// A lock file nobody holds is left by a process that died; it is removed.
func instanceAlive(dbPath, id string) bool {
	if id == "" || filepath.Base(id) != id || id == "." || id == ".." {
		return false
	}
	name := filepath.Join(instanceDir(dbPath), id+".lock")
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true
	}
	if err == nil {
		// Runs name an instance only after it holds its lock, so getting
		// it means the owner is gone.
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		os.Remove(name)
	}
	return false
}
