package power

// WindowEnergy returns, per domain, the energy in mJ that samples put
// inside [t0, t1] and how many ns of the window each domain was covered.
// A sample straddling an edge counts pro rata (its energy is taken as spread
// evenly over its interval). A domain covered for less than t1 − t0 was not
// measured for part of the window; a domain in no sample is absent.
func WindowEnergy(samples []Sample, t0, t1 int64) (energyMJ map[Domain]float64, coveredNs map[Domain]int64) {
	energyMJ, coveredNs = map[Domain]float64{}, map[Domain]int64{}
	for _, s := range samples {
		dur := s.T1 - s.T0
		lo, hi := max(s.T0, t0), min(s.T1, t1)
		if dur <= 0 || hi <= lo {
			continue
		}
		share := float64(hi-lo) / float64(dur)
		for d, r := range s.Domains {
			energyMJ[d] += r.Energy(dur) * share
			coveredNs[d] += hi - lo
		}
	}
	return energyMJ, coveredNs
}
