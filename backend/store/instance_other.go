//go:build !unix

package store

// Without flock, no other store's liveness can be told: runs of other
// instances are treated as orphans, as before instances existed.

func lockInstance(dbPath, id string) (release func(), err error) { return func() {}, nil }

func instanceAlive(dbPath, id string) bool { return false }
