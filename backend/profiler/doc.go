// Package profiler owns runs: it joins the engine's trace events (phases,
// tokens, component calls) with power samples on the shared monotonic clock,
// attributes energy to every window, and computes run summaries and
// statistical comparisons between runs.
//
// # Using it
//
// Like Zeus' measurement windows:
//
//	p := profiler.New(profiler.Options{Power: feed})
//	run, err := p.Start(ctx, profiler.Meta{ModelName: "demo", Prompt: "Hello"})
//	// … run is an engine.Tracer: pass it to the engine's Generate …
//	summary, err := run.Finish()
//
// A program that is not the engine brackets its own steps the same way,
// with phases of any name: run.PhaseStart("load", clock.Now()) …
// run.PhaseEnd("load", clock.Now()); each phase gets its energy.
//
// Start measures the idle baseline (Options.Idle, default 1 s) before it
// returns. Finish waits briefly for samples that cover the end of the run.
// Options.Live receives live events (never blocking the engine) and
// Options.Recorder (the store) receives the run when it starts and ends.
//
// # Energy attribution
//
// For every domain (cpu, gpu, ane, dram, package, …) the samples of one
// source define a piecewise-constant power function P(t): a sample covering
// [T0, T1] with energy E (a counter delta, or average power × duration)
// contributes the constant power E/(T1−T0) on that interval. The energy of a
// window [a, b] (run, phase, token, component call) is the integral of P
// over [a, b]: a sample that lies wholly inside the window counts in full,
// one that overlaps it partly counts in proportion to the overlapped time.
// Because every window is an integral of the same function, parts add up to
// their whole: the phases tile the run (each phase's window runs from its
// start to the next phase's start), the decode tokens tile the decode phase
// (each token's window runs from the previous token's end to its own end,
// the last to the phase end), and a token's component calls plus its
// "other" energy (the time outside every traced component: sampling, glue)
// add up to the token. The first generated token comes from the prefill
// pass: it belongs to the prefill phase and its window is that pass.
//
// When several sources cover one domain, the best kind is used: a hardware
// counter, then sampled power, then an estimate. The total does not double
// count: a "package" reading replaces the CPU, its cores and the ANE (and
// the GPU when the same source reports it, as on Apple Silicon); DRAM and
// GPUs from other sources (NVML) are added to it; RAPL's "core" is never
// added to a CPU reading that contains it.
//
// Gaps. Between two samples of a domain the earlier sample's power is held
// (zero-order hold); the held time counts as covered but adds to the
// uncertainty. Before a domain's first sample and after its last nothing is
// counted: the window's Coverage falls below 1 and its energy covers only
// the covered part. A domain with no sample touching a window is absent from
// it, never 0.
//
// Measured or apportioned. A window at least MeasuredMinIntervals (default 2)
// median sample intervals long, with at most 10% of it held across gaps, is
// "measured": its energy is mostly whole counter deltas. A shorter window
// (a token, a component call) is "apportioned": a time-share of samples
// that also cover time outside it, which assumes the power was constant
// within each sample. Estimated sources are always "estimated".
//
// Uncertainty bound. Each window's UncertaintyJ bounds the error as the sum of
//
//   - for every sample the window only partly overlaps, E·max(f, 1−f), where
//     f is the overlapped fraction of the sample (with non-negative power the
//     true energy in the overlap lies between 0 and E);
//   - for every counter sample touched, the counter's resolution (IOReport
//     and NVML 1 mJ, RAPL 0.061 mJ);
//   - for every held gap of length g inside the window, g·|P_after − P_before|.
//
// For a 20 ms token inside one 100 ms sample this is 0.8·E, four times the
// apportioned value: per-token energies are indicative, and J/token is best
// read over the whole decode phase.
//
// Idle baseline. Before inference the run measures the mean power per domain
// over the idle window (covered time only). Every window's net energy is its
// gross energy minus idle power × window length; net energy may be negative
// for a window that drew less than idle. The run's net energy has an error
// bound (Summary.NetNoiseJ): the gross UncertaintyJ plus, per domain in the
// total, 2·σ·T·(1/√n_idle + 1/√n_run), with σ the standard deviation of the
// idle samples' power and n the samples in each window; a net energy no
// larger than it is "within idle noise" (Summary.NetWithinNoise), shown as
// ≈0 rather than as a number.
//
// # Summary metrics
//
// J per output token is the decode phase's energy over the tokens decoded
// in it; J per input token is the prefill phase's energy over the prompt
// tokens; their ratio is the output/input cost ratio. J per token (the run
// list's figure) is the whole run's energy over all generated tokens. Tokens
// per joule, the energy-delay product (J·s), energy per million parameters,
// cost (kWh × USD/kWh, default 0.12) and CO₂ (kWh × g/kWh, default 400; presets
// california 200, texas 500, eu 300, us 400) follow from the run's energy.
// Average power is energy over duration; peak power is the largest sample
// overlapping the run. Comparisons give, per metric, the mean, sample sd and
// 95% CI (Student's t) over repeated runs, normalised to the first group, and
// Welch's t-test p-values on J per output token and decode tok/s (the t CDF
// through the regularized incomplete beta function).
//
// Every number carries a provenance label: "measured <source>",
// "apportioned <source>", "estimated <source>" or "unavailable"; times and
// token counts are "measured clock".
package profiler
