package power

import (
	"os"
	"path/filepath"
)

const cpuLoadOrigin = "/proc/stat"

func platformCPUTimes(opts Options) (func() (cpuTimes, error), Availability) {
	path := filepath.Join(opts.ProcRoot, "stat")
	read := func() (cpuTimes, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return cpuTimes{}, err
		}
		return parseProcStat(b)
	}
	return read, available()
}
