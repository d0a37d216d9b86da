package helper

import (
	"strconv"
	"strings"
)

// parseMajor reads the major number of a version such as "12.6.1".
func parseMajor(v string) int {
	major, _, _ := strings.Cut(strings.TrimSpace(v), ".")
	n, err := strconv.Atoi(major)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
