package helper

import "fmt"

// xucredVersion is XUCRED_VERSION (<sys/ucred.h>): the only layout of
// struct xucred the kernel has ever filled in.
const xucredVersion = 0

// xucredUID returns the uid of a struct xucred from LOCAL_PEERCRED, after
// checking that the kernel filled in the layout we read: a different
// version would put something else where we read the uid.
func xucredUID(version, uid uint32) (uint32, error) {
	if version != xucredVersion {
		return 0, fmt.Errorf("xucred version %d, want %d: refusing a peer whose credentials cannot be read", version, xucredVersion)
	}
	return uid, nil
}
