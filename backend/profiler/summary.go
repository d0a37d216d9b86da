package profiler

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"energyprofiler/backend/power"
)

// Metric is one number with its unit and provenance label. Value is nil when
// the number is unavailable; it is never a stand-in 0.
type Metric struct {
	Value *float64 `json:"value"`
	Unit  string   `json:"unit"`
	Label string   `json:"label"`
}

func metric(v float64, unit, label string) Metric { return Metric{Value: &v, Unit: unit, Label: label} }

func unavailable(unit string) Metric { return Metric{Unit: unit, Label: string(BasisUnavailable)} }

// Get returns the value and whether there is one.
func (m Metric) Get() (float64, bool) {
	if m.Value == nil {
		return 0, false
	}
	return *m.Value, true
}

// String renders "1.23 J (measured rapl)" or "unavailable".
func (m Metric) String() string {
	if m.Value == nil {
		return "unavailable"
	}
	return fmt.Sprintf("%.4g %s (%s)", *m.Value, m.Unit, m.Label)
}

// clockLabel is the provenance of times and counts: the shared monotonic clock.
const clockLabel = "measured clock"

// Defaults for cost and emissions.
const (
	DefaultPriceUSDPerKWh = 0.12
	DefaultCO2GPerKWh     = 400
	DefaultCO2Preset      = "us"
)

// CO2Preset returns the g/kWh of a named preset (us, california, texas, eu).
func CO2Preset(name string) (float64, error) {
	switch strings.ToLower(name) {
	case "us":
		return 400, nil
	case "california":
		return 200, nil
	case "texas":
		return 500, nil
	case "eu":
		return 300, nil
	}
	return 0, fmt.Errorf("unknown CO2 preset %q: use us (400), california (200), texas (500), eu (300) or give a custom g/kWh", name)
}

// Summary is a run's headline numbers. Every number carries its provenance.
type Summary struct {
	RunID     string `json:"run_id"`
	Status    Status `json:"status"`
	ModelName string `json:"model_name"`

	// The run window and idle baseline, in ns from the moment Start was called.
	RunStartNs  int64  `json:"run_start_ns"`
	RunEndNs    int64  `json:"run_end_ns"`
	IdleStartNs *int64 `json:"idle_start_ns,omitempty"`
	IdleEndNs   *int64 `json:"idle_end_ns,omitempty"`

	DurationS    Metric `json:"duration_s"`
	PrefillS     Metric `json:"prefill_s"`
	DecodeS      Metric `json:"decode_s"`
	InputTokens  int    `json:"input_tokens"`
	OutputTokens int    `json:"output_tokens"`
	DecodeTokens int    `json:"decode_tokens"`
	// Kind is the run's kind (engine, server, window). InputTokensSource
	// and OutputTokensSource say where the counts came from when it was
	// not our own tokenizer and engine: a server's report, a count of
	// streamed chunks, a window's caller, or "unavailable (…)", in which
	// case the count is not a measurement: 0 here, null in JSON.
	Kind               string `json:"kind,omitempty"`
	InputTokensSource  string `json:"input_tokens_source,omitempty"`
	OutputTokensSource string `json:"output_tokens_source,omitempty"`

	PrefillTokensPerSecond Metric `json:"prefill_tokens_per_second"`
	DecodeTokensPerSecond  Metric `json:"decode_tokens_per_second"`
	// TokensPerSecond is output tokens over prefill + decode time (the
	// user-visible generation speed).
	TokensPerSecond Metric `json:"tokens_per_second"`

	// Energy is the whole run window, per domain and total, gross and net.
	Energy       Energy            `json:"energy"`
	PhaseEnergy  map[string]Energy `json:"phase_energy"`
	TotalEnergyJ Metric            `json:"total_energy_j"`
	NetEnergyJ   Metric            `json:"net_energy_j"`
	// NetNoiseJ is how far the net energy can be off (see setNetNoise);
	// NetWithinNoise is true when the net energy is at most that: the run
	// did not measurably draw more than idle, and its net figures read
	// "≈0 (within idle noise)", never a negative or tiny number.
	NetNoiseJ      Metric `json:"net_noise_j"`
	NetWithinNoise bool   `json:"net_within_noise,omitempty"`

	IdlePowerW map[power.Domain]Metric `json:"idle_power_w"`
	AvgPowerW  map[power.Domain]Metric `json:"avg_power_w"`
	PeakPowerW map[power.Domain]Metric `json:"peak_power_w"`

	// JoulesPerToken is the whole run's energy over output tokens.
	JoulesPerToken Metric `json:"joules_per_token"`
	// JoulesPerOutputToken is decode energy over decode tokens;
	// JoulesPerInputToken is prefill energy over prompt tokens.
	JoulesPerOutputToken    Metric `json:"joules_per_output_token"`
	JoulesPerInputToken     Metric `json:"joules_per_input_token"`
	NetJoulesPerOutputToken Metric `json:"net_joules_per_output_token"`
	NetJoulesPerInputToken  Metric `json:"net_joules_per_input_token"`
	// OutputInputRatio is J per output token ÷ J per input token.
	OutputInputRatio   Metric `json:"output_input_ratio"`
	TokensPerJoule     Metric `json:"tokens_per_joule"`
	EnergyDelayProduct Metric `json:"energy_delay_product_js"`
	EnergyPerMParams   Metric `json:"energy_per_million_params_j"`
	// EnergyPerActiveMParams divides by the parameters a token uses
	// (Architecture.ParamsActive); it equals EnergyPerMParams for a dense
	// model and is what compares a mixture of experts with a dense model.
	EnergyPerActiveMParams Metric `json:"energy_per_active_million_params_j"`
	CostUSD                Metric `json:"cost_usd"`
	CO2Grams               Metric `json:"co2_g"`
	// CostUSDPerMTokens and CO2GPerMTokens are the whole run's cost and CO₂
	// per million output tokens: the unit API prices are quoted in.
	CostUSDPerMTokens Metric        `json:"cost_usd_per_million_output_tokens"`
	CO2GPerMTokens    Metric        `json:"co2_g_per_million_output_tokens"`
	PriceUSDPerKWh    float64       `json:"price_usd_per_kwh"`
	CO2GPerKWh        float64       `json:"co2_g_per_kwh"`
	CO2Preset         string        `json:"co2_preset"`
	Architecture      *Architecture `json:"architecture,omitempty"`
	Sources           []SourceUse   `json:"sources"`
	DroppedLiveEvents int64         `json:"dropped_live_events,omitempty"`
}

// MarshalJSON writes a token count that was not measured (its source
// says "unavailable (…)": a window stopped without counts, a server that
// did not report its prompt) as null, never as 0.
func (s Summary) MarshalJSON() ([]byte, error) {
	type plain Summary // without this method
	count := func(n int, source string) *int {
		if strings.HasPrefix(source, "unavailable") {
			return nil
		}
		return &n
	}
	return json.Marshal(struct {
		plain
		InputTokens  *int `json:"input_tokens"`
		OutputTokens *int `json:"output_tokens"`
	}{plain(s), count(s.InputTokens, s.InputTokensSource), count(s.OutputTokens, s.OutputTokensSource)})
}

// summarize computes a run's summary from its attributed record.
func summarize(rec *Record, tl *timeline, idleW map[power.Domain]float64, runA, runB int64, inputTokens int, counts *tokenCounts) *Summary {
	outputTokens := len(rec.Tokens)
	var inSource, outSource string
	if x := rec.Run.External; x != nil {
		inSource, outSource = x.InputTokensSource, x.OutputTokensSource
	}
	if counts != nil {
		inputTokens, outputTokens = max(counts.in, 0), max(counts.out, 0)
		inSource, outSource = counts.inLabel, counts.outLabel
	}
	s := &Summary{
		Kind:               KindOf(rec.Run.Meta),
		InputTokensSource:  inSource,
		OutputTokensSource: outSource,
		RunID:              rec.Run.ID,
		Status:             rec.Run.Status,
		ModelName:          rec.Run.ModelName,
		InputTokens:        inputTokens,
		OutputTokens:       outputTokens,
		Architecture:       rec.Run.Arch,
		Sources:            rec.Run.Sources,
		PriceUSDPerKWh:     rec.Run.Settings.PriceUSDPerKWh,
		CO2GPerKWh:         rec.Run.Settings.CO2GPerKWh,
		CO2Preset:          rec.Run.Settings.CO2Preset,
		PhaseEnergy:        map[string]Energy{},
		IdlePowerW:         map[power.Domain]Metric{},
		AvgPowerW:          map[power.Domain]Metric{},
		PeakPowerW:         map[power.Domain]Metric{},
	}
	durS := float64(runB-runA) / 1e9
	s.DurationS = metric(durS, "s", clockLabel)

	var prefillS, decodeS float64
	var prefill, decode *PhaseRecord
	for i := range rec.Phases {
		p := &rec.Phases[i]
		s.PhaseEnergy[p.Phase] = p.Energy
		d := float64(p.EndNs-p.StartNs) / 1e9
		switch p.Phase {
		case "prefill":
			prefillS += d
			prefill = p
		case "decode":
			decodeS += d
			decode = p
		}
	}
	for _, t := range rec.Tokens {
		if t.Phase == "decode" {
			s.DecodeTokens++
		}
	}
	s.PrefillS, s.DecodeS = unavailable("s"), unavailable("s")
	s.PrefillTokensPerSecond, s.DecodeTokensPerSecond = unavailable("tok/s"), unavailable("tok/s")
	s.TokensPerSecond = unavailable("tok/s")
	if prefill != nil {
		s.PrefillS = metric(prefillS, "s", clockLabel)
		if prefillS > 0 && inputTokens > 0 {
			s.PrefillTokensPerSecond = metric(float64(inputTokens)/prefillS, "tok/s", clockLabel)
		}
	}
	if decode != nil {
		s.DecodeS = metric(decodeS, "s", clockLabel)
		if decodeS > 0 && s.DecodeTokens > 0 {
			s.DecodeTokensPerSecond = metric(float64(s.DecodeTokens)/decodeS, "tok/s", clockLabel)
		}
	}
	if gen := prefillS + decodeS; gen > 0 && s.OutputTokens > 0 {
		s.TokensPerSecond = metric(float64(s.OutputTokens)/gen, "tok/s", clockLabel)
	} else if durS > 0 && s.OutputTokens > 0 {
		s.TokensPerSecond = metric(float64(s.OutputTokens)/durS, "tok/s", clockLabel)
	}

	s.Energy = tl.energy(runA, runB, idleW)
	for d, p := range idleW {
		label := "unavailable"
		for _, ser := range tl.series {
			if ser.domain == d {
				label = Label(basisOfKind(ser.kind), ser.source)
			}
		}
		s.IdlePowerW[d] = metric(p, "W", label)
	}
	for d, de := range s.Energy.Domains {
		if durS > 0 {
			s.AvgPowerW[d] = metric(de.GrossJ/durS, "W", de.Label)
		}
	}
	for d, p := range tl.peakW(runA, runB) {
		label := "unavailable"
		for _, ser := range tl.series {
			if ser.domain == d {
				label = Label(basisOfKind(ser.kind), ser.source)
			}
		}
		s.PeakPowerW[d] = metric(p, "W", label)
	}

	units := []struct {
		m    *Metric
		unit string
	}{
		{&s.TotalEnergyJ, "J"}, {&s.NetEnergyJ, "J"}, {&s.NetNoiseJ, "J"}, {&s.JoulesPerToken, "J/token"},
		{&s.JoulesPerOutputToken, "J/token"}, {&s.JoulesPerInputToken, "J/token"},
		{&s.NetJoulesPerOutputToken, "J/token"}, {&s.NetJoulesPerInputToken, "J/token"},
		{&s.OutputInputRatio, "×"}, {&s.TokensPerJoule, "tok/J"}, {&s.EnergyDelayProduct, "J·s"},
		{&s.EnergyPerMParams, "J/Mparam"}, {&s.EnergyPerActiveMParams, "J/Mparam"}, {&s.CostUSD, "USD"}, {&s.CO2Grams, "g"},
		{&s.CostUSDPerMTokens, "USD/Mtoken"}, {&s.CO2GPerMTokens, "g/Mtoken"},
	}
	for _, u := range units {
		*u.m = unavailable(u.unit)
	}
	tot := s.Energy.Total
	if tot == nil {
		return s
	}
	lbl := tot.Label
	s.TotalEnergyJ = metric(tot.GrossJ, "J", lbl)
	if tot.NetJ != nil {
		s.NetEnergyJ = metric(*tot.NetJ, "J", lbl)
	}
	if s.OutputTokens > 0 {
		s.JoulesPerToken = metric(tot.GrossJ/float64(s.OutputTokens), "J/token", lbl)
		if tot.GrossJ > 0 {
			s.TokensPerJoule = metric(float64(s.OutputTokens)/tot.GrossJ, "tok/J", lbl)
		}
	}
	s.EnergyDelayProduct = metric(tot.GrossJ*durS, "J·s", lbl)
	if a := rec.Run.Arch; a != nil && a.ParamsTotal > 0 {
		s.EnergyPerMParams = metric(tot.GrossJ/(float64(a.ParamsTotal)/1e6), "J/Mparam", lbl)
		active := a.ParamsActive
		if active == 0 { // runs stored before active counts were recorded: dense
			active = a.ParamsTotal
		}
		s.EnergyPerActiveMParams = metric(tot.GrossJ/(float64(active)/1e6), "J/Mparam", lbl)
	}
	kwh := tot.GrossJ / 3.6e6
	s.CostUSD = metric(kwh*s.PriceUSDPerKWh, "USD", lbl+" × price setting")
	s.CO2Grams = metric(kwh*s.CO2GPerKWh, "g", lbl+" × grid intensity setting")
	if s.OutputTokens > 0 {
		perM := 1e6 / float64(s.OutputTokens)
		s.CostUSDPerMTokens = metric(kwh*s.PriceUSDPerKWh*perM, "USD/Mtoken", lbl+" × price setting")
		s.CO2GPerMTokens = metric(kwh*s.CO2GPerKWh*perM, "g/Mtoken", lbl+" × grid intensity setting")
	}

	var outJ, inJ float64
	var outOK, inOK bool
	if decode != nil && decode.Energy.Total != nil && s.DecodeTokens > 0 {
		t := decode.Energy.Total
		outJ, outOK = t.GrossJ/float64(s.DecodeTokens), true
		s.JoulesPerOutputToken = metric(outJ, "J/token", t.Label)
		if t.NetJ != nil {
			s.NetJoulesPerOutputToken = metric(*t.NetJ/float64(s.DecodeTokens), "J/token", t.Label)
		}
	}
	if prefill != nil && prefill.Energy.Total != nil && inputTokens > 0 {
		t := prefill.Energy.Total
		inJ, inOK = t.GrossJ/float64(inputTokens), true
		s.JoulesPerInputToken = metric(inJ, "J/token", t.Label)
		if t.NetJ != nil {
			s.NetJoulesPerInputToken = metric(*t.NetJ/float64(inputTokens), "J/token", t.Label)
		}
	}
	if counts != nil && decode == nil && s.OutputTokens > 0 {
		// A window: no decode phase, so its output tokens (given by its
		// caller) share the whole window's energy.
		s.JoulesPerOutputToken = metric(tot.GrossJ/float64(s.OutputTokens), "J/token", lbl)
		if tot.NetJ != nil {
			s.NetJoulesPerOutputToken = metric(*tot.NetJ/float64(s.OutputTokens), "J/token", lbl)
		}
	}
	if outOK && inOK && inJ > 0 {
		b := worseBasis(decode.Energy.Total.Basis, prefill.Energy.Total.Basis)
		s.OutputInputRatio = metric(outJ/inJ, "×", Label(b, decode.Energy.Total.Source))
	}
	return s
}

// setNetNoise bounds the error of the net energy, gross minus idle power ×
// duration T, and says whether the net energy lies within it. The bound is
// the gross energy's UncertaintyJ plus, for every domain in the total, two
// standard errors of the difference between the run's and the idle
// window's mean power, times T: 2·σ·T·(1/√n_idle + 1/√n_run), where σ is
// the standard deviation of the idle window's sample powers (how much the
// machine's power wanders at rest) and n the samples in each window.
func (s *Summary) setNetNoise(tl *timeline, idleA, idleB, runA, runB int64) {
	tot := s.Energy.Total
	net, ok := s.NetEnergyJ.Get()
	if tot == nil || !ok || runB <= runA {
		return
	}
	present := map[power.Domain]string{}
	for d, de := range s.Energy.Domains {
		present[d] = de.Source
	}
	noise := tot.UncertaintyJ
	durS := float64(runB-runA) / 1e9
	for _, ser := range tl.series {
		de, ok := s.Energy.Domains[ser.domain]
		if !ok || de.Source != ser.source || !countsInTotal(ser.domain, ser.source, present) {
			continue
		}
		var idle []float64
		nRun := 0
		for _, seg := range ser.segs {
			if seg.t1 > idleA && seg.t0 < idleB {
				idle = append(idle, seg.powerW())
			}
			if seg.t1 > runA && seg.t0 < runB {
				nRun++
			}
		}
		if len(idle) < 2 || nRun == 0 {
			continue
		}
		sd := stddev(idle)
		noise += 2 * sd * durS * (1/math.Sqrt(float64(len(idle))) + 1/math.Sqrt(float64(nRun)))
	}
	s.NetNoiseJ = metric(noise, "J", tot.Label)
	s.NetWithinNoise = net <= noise
}

// stddev is the sample standard deviation of xs (at least two).
func stddev(xs []float64) float64 {
	var mean float64
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return math.Sqrt(ss / float64(len(xs)-1))
}

func basisOfKind(k power.Kind) Basis {
	if k == power.KindEstimate {
		return BasisEstimated
	}
	return BasisMeasured
}

// sourcesOf lists the sources seen in samples, with their kinds and domains.
func sourcesOf(samples []power.Sample) []SourceUse {
	idx := map[string]int{}
	out := []SourceUse{}
	for _, s := range samples {
		i, ok := idx[s.Source]
		if !ok {
			i = len(out)
			idx[s.Source] = i
			out = append(out, SourceUse{Name: s.Source, Kind: s.Kind, Domains: []power.Domain{}})
		}
		for d := range s.Domains {
			found := false
			for _, x := range out[i].Domains {
				if x == d {
					found = true
				}
			}
			if !found {
				out[i].Domains = append(out[i].Domains, d)
			}
		}
	}
	for i := range out {
		sort.Slice(out[i].Domains, func(a, b int) bool { return out[i].Domains[a] < out[i].Domains[b] })
	}
	return out
}
