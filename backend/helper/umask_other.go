//go:build !unix

package helper

// withUmask runs fn: there is no umask here.
func withUmask(mask int, fn func() error) error { return fn() }
