//go:build !race

package cli

// raceDetector says whether this test binary was built with -race.
const raceDetector = false
