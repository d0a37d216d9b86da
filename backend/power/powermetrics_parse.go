package power

// Streaming parsers for Apple powermetrics output, platform-independent so
// they are tested here on real captures. Facts: /work/shared/notes/
// apple-power.md, section a.
//
// plist (-f plist): documents separated by NUL bytes (the NUL comes at the
// start of the next document), each from <?xml to </plist>. Keys, per
// sample:
//   - elapsed_ns: the real interval (never trust the nominal -i);
//   - processor.cpu_power / gpu_power / ane_power / combined_power: mW
//     (macOS 13+); processor.*_energy: integer mJ, rounded, used only when
//     the power key is missing;
//   - macOS 12: processor.package_energy / dram_energy (mJ);
//   - gpu sampler only: no processor dict, so CPU and ANE are absent; GPU
//     comes from gpu.gpu_energy (mJ);
//   - gpu.freq_hz is really MHz; macOS 14/15 repeat keys inside gpu (the
//     decoder keeps the last).
//
// text: "*** Sampled system activity (…) (104.51ms elapsed) ***" starts a
// sample; "<Label> Power: N mW" lines carry power. "GPU Power" appears
// twice (processor and GPU sections): the first is kept, never summed.

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	"howett.net/plist"
)

// PowermetricsRecord is one parsed powermetrics sample, before it is placed
// on a clock.
type PowermetricsRecord struct {
	ElapsedNs  int64
	Domains    map[Domain]Reading
	GPUFreqMHz float64 // gpu.freq_hz, which is MHz despite its name
	HasGPUFreq bool
}

// Sample places a record on a clock: it ended at t1.
func (r PowermetricsRecord) Sample(t1 int64, source string) Sample {
	return Sample{T0: t1 - r.ElapsedNs, T1: t1, Source: source, Kind: KindSampling, Domains: r.Domains}
}

// PlistParser splits a powermetrics -f plist stream into documents and
// decodes them. Feed it any chunking of the stream, one byte at a time
// included; it returns the same records.
type PlistParser struct {
	buf     []byte
	scanned int // bytes of buf known not to end a document
}

const plistEnd = "</plist>"

// Write adds stream bytes and returns the records of the documents they
// complete. A document that fails to decode is reported in err after the
// records before it; the parser skips it and stays usable.
func (p *PlistParser) Write(b []byte) ([]PowermetricsRecord, error) {
	p.buf = append(p.buf, b...)
	var out []PowermetricsRecord
	var errs []error
	for {
		from := max(p.scanned-len(plistEnd)+1, 0)
		i := bytes.Index(p.buf[from:], []byte(plistEnd))
		if i < 0 {
			p.scanned = len(p.buf)
			break
		}
		end := from + i + len(plistEnd)
		doc := p.buf[:end]
		rec, err := decodePowermetricsPlist(doc)
		if err != nil {
			errs = append(errs, err)
		} else {
			out = append(out, rec)
		}
		p.buf = append(p.buf[:0], p.buf[end:]...)
		p.scanned = 0
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("powermetrics plist: %d document(s) skipped: %w", len(errs), errs[0])
	}
	return out, nil
}

// Pending reports whether part of a document is buffered (at EOF it is a
// truncated sample and is dropped).
func (p *PlistParser) Pending() bool {
	return len(bytes.TrimLeft(p.buf, "\x00 \t\r\n")) > 0
}

func decodePowermetricsPlist(doc []byte) (PowermetricsRecord, error) {
	doc = bytes.TrimLeft(doc, "\x00 \t\r\n")
	var m map[string]any
	if _, err := plist.Unmarshal(doc, &m); err != nil {
		return PowermetricsRecord{}, fmt.Errorf("decode plist document: %w", err)
	}
	return powermetricsRecordFromMap(m)
}

func powermetricsRecordFromMap(m map[string]any) (PowermetricsRecord, error) {
	elapsed, ok := plistNumber(m["elapsed_ns"])
	if !ok || elapsed <= 0 {
		return PowermetricsRecord{}, fmt.Errorf("plist sample has no positive elapsed_ns")
	}
	rec := PowermetricsRecord{ElapsedNs: int64(elapsed), Domains: map[Domain]Reading{}}
	proc, _ := m["processor"].(map[string]any)
	gpu, _ := m["gpu"].(map[string]any)

	// set records a domain from a power key (mW) or, failing that, an energy
	// key (mJ over the sample).
	set := func(d Domain, dict map[string]any, powerKey, energyKey string) bool {
		if dict == nil {
			return false
		}
		if mw, ok := plistNumber(dict[powerKey]); ok && powerKey != "" {
			rec.Domains[d] = Reading{PowerMW: mw, HasPower: true}
			return true
		}
		if mj, ok := plistNumber(dict[energyKey]); ok && energyKey != "" {
			rec.Domains[d] = Reading{EnergyMJ: mj, HasEnergy: true, PowerMW: mwFromEnergy(mj, rec.ElapsedNs), HasPower: true}
			return true
		}
		return false
	}
	set(DomainCPU, proc, "cpu_power", "cpu_energy")
	set(DomainANE, proc, "ane_power", "ane_energy")
	if !set(DomainGPU, proc, "gpu_power", "gpu_energy") {
		set(DomainGPU, gpu, "gpu_power", "gpu_energy")
	}
	set(DomainDRAM, proc, "dram_power", "dram_energy")
	if !set(DomainPackage, proc, "combined_power", "") {
		set(DomainPackage, proc, "package_power", "package_energy")
	}
	if gpu != nil {
		if mhz, ok := plistNumber(gpu["freq_hz"]); ok {
			rec.GPUFreqMHz, rec.HasGPUFreq = mhz, true
		}
	}
	return rec, nil
}

func plistNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}

// TextParser parses powermetrics' text output line by line. Like
// PlistParser it gives the same records for any chunking of the input.
type TextParser struct {
	line    []byte
	cur     *PowermetricsRecord
	gpuSeen bool
	lineNo  int
}

// Write adds text and returns the samples that are now complete (a sample
// completes when the next one starts; Flush completes the last).
func (p *TextParser) Write(b []byte) ([]PowermetricsRecord, error) {
	var out []PowermetricsRecord
	var firstErr error
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.line = append(p.line, b...)
			break
		}
		p.line = append(p.line, b[:i]...)
		b = b[i+1:]
		rec, done, err := p.handleLine(string(p.line))
		p.line = p.line[:0]
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if done {
			out = append(out, rec)
		}
	}
	return out, firstErr
}

// Flush ends the input and returns the last sample, if any.
func (p *TextParser) Flush() ([]PowermetricsRecord, error) {
	var out []PowermetricsRecord
	var firstErr error
	if len(p.line) > 0 {
		rec, done, err := p.handleLine(string(p.line))
		p.line = p.line[:0]
		firstErr = err
		if done {
			out = append(out, rec)
		}
	}
	if p.cur != nil {
		out = append(out, *p.cur)
		p.cur = nil
	}
	return out, firstErr
}

// textPowerDomain maps a text "<Label> Power" label to its domain; cluster
// and per-core labels are not domains.
func textPowerDomain(label string) (Domain, bool) {
	switch label {
	case "CPU Power":
		return DomainCPU, true
	case "GPU Power":
		return DomainGPU, true
	case "ANE Power":
		return DomainANE, true
	case "DRAM Power":
		return DomainDRAM, true
	case "Package Power": // macOS 11/12: not the sum of the parts
		return DomainPackage, true
	case "Combined Power (CPU + GPU + ANE)": // macOS 13+
		return DomainPackage, true
	}
	return "", false
}

func (p *TextParser) handleLine(line string) (done PowermetricsRecord, isDone bool, err error) {
	p.lineNo++
	line = strings.TrimRight(line, "\r")
	if strings.HasPrefix(line, "*** Sampled system activity") {
		ns, err := textElapsedNs(line)
		if err != nil {
			return done, false, fmt.Errorf("powermetrics text line %d: %w", p.lineNo, err)
		}
		if p.cur != nil {
			done, isDone = *p.cur, true
		}
		p.cur = &PowermetricsRecord{ElapsedNs: ns, Domains: map[Domain]Reading{}}
		p.gpuSeen = false
		return done, isDone, nil
	}
	if p.cur == nil {
		return done, false, nil // preamble (machine model, OS version)
	}
	label, value, ok := strings.Cut(line, ": ")
	if !ok {
		return done, false, nil
	}
	d, known := textPowerDomain(label)
	if !known {
		return done, false, nil // cluster and per-core lines
	}
	num, unit, _ := strings.Cut(strings.TrimSpace(value), " ")
	if unit != "mW" {
		return done, false, fmt.Errorf("powermetrics text line %d: %q: want a value in mW", p.lineNo, line)
	}
	mw, perr := strconv.ParseFloat(num, 64)
	if perr != nil {
		return done, false, fmt.Errorf("powermetrics text line %d: %q: %w", p.lineNo, line, perr)
	}
	if d == DomainGPU {
		if p.gpuSeen {
			return done, false, nil // the GPU section repeats the processor section's value
		}
		p.gpuSeen = true
	}
	p.cur.Domains[d] = Reading{PowerMW: mw, HasPower: true}
	return done, false, nil
}

// textElapsedNs reads "(104.51ms elapsed)" from a sample header.
func textElapsedNs(line string) (int64, error) {
	end := strings.LastIndex(line, "ms elapsed)")
	if end < 0 {
		return 0, fmt.Errorf("sample header %q has no elapsed time", line)
	}
	start := strings.LastIndex(line[:end], "(")
	if start < 0 {
		return 0, fmt.Errorf("sample header %q has no elapsed time", line)
	}
	ms, err := strconv.ParseFloat(line[start+1:end], 64)
	if err != nil || ms <= 0 {
		return 0, fmt.Errorf("sample header %q: bad elapsed time", line)
	}
	return int64(math.Round(ms * 1e6)), nil
}
