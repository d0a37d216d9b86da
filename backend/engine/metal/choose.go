package metal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"energyprofiler/backend/engine/compute"
)

// Backend kinds for --backend and the API.
const (
	KindAuto  = "auto"
	KindCPU   = "cpu"
	KindMetal = "metal"
)

// Kinds lists the accepted backend names.
var Kinds = []string{KindAuto, KindCPU, KindMetal}

// Choice says which backend runs and why.
type Choice struct {
	Kind   string `json:"backend"` // cpu | metal: what runs
	Device string `json:"device"`  // the GPU's name, or the CPU backend's kernels and threads
	// Reason is set when auto chose the CPU: why Metal was not used.
	Reason string `json:"reason,omitempty"`
}

// Chooser picks a compute backend for a spec (auto, cpu, metal). Its fields
// are what the choice depends on, so tests can replace them.
type Chooser struct {
	Threads int // CPU workers; < 1: GOMAXPROCS
	// Open opens the Metal device (default Open).
	Open func() (Device, error)
	// CachePath is the self-test cache file (default SelfTestCachePath()).
	CachePath string
	// OSBuild identifies the OS release the cache entry is for (default
	// OSBuild()).
	OSBuild func() string
	// Now stamps cache entries (default time.Now).
	Now func() time.Time
}

// SelfTestCachePath is where self-test results are kept: the user cache
// folder, energyprofiler/metal-selftest.json.
func SelfTestCachePath() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "energyprofiler", "metal-selftest.json")
}

// ParseKind checks a backend name ("" means auto).
func ParseKind(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return KindAuto, nil
	}
	for _, k := range Kinds {
		if s == k {
			return s, nil
		}
	}
	return "", fmt.Errorf("backend %q is not one of auto, cpu, metal", s)
}

func (c Chooser) defaults() Chooser {
	if c.Open == nil {
		c.Open = Open
	}
	if c.CachePath == "" {
		c.CachePath = SelfTestCachePath()
	}
	if c.OSBuild == nil {
		c.OSBuild = OSBuild
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Choose returns the backend for spec. cpu is always the CPU; metal is the
// GPU or an error that says why not; auto is the GPU only where the
// self-test passed on this OS build and GPU (it runs once when no result is
// cached), else the CPU, with the reason in Choice.Reason.
func (c Chooser) Choose(spec string) (compute.Backend, Choice, error) {
	c = c.defaults()
	kind, err := ParseKind(spec)
	if err != nil {
		return nil, Choice{}, err
	}
	cpu := func(reason string) (compute.Backend, Choice, error) {
		be := compute.NewCPU(c.Threads)
		return be, Choice{Kind: KindCPU, Device: be.Name(), Reason: reason}, nil
	}
	if kind == KindCPU {
		return cpu("")
	}
	dev, err := c.Open()
	if err != nil {
		if kind == KindMetal {
			return nil, Choice{}, fmt.Errorf("--backend metal: %w", err)
		}
		return cpu(err.Error())
	}
	if kind == KindAuto {
		entry, err := c.selfTested(dev)
		if err != nil {
			dev.Close()
			return cpu(err.Error())
		}
		if !entry.Passed {
			dev.Close()
			return cpu(fmt.Sprintf("the Metal self-test failed on %s (%s); run 'energyprofiler doctor --selftest' for details", entry.GPU, entry.Failed))
		}
	}
	be, err := New(dev)
	if err != nil {
		if kind == KindMetal {
			return nil, Choice{}, err
		}
		return cpu(err.Error())
	}
	return be, Choice{Kind: KindMetal, Device: be.DeviceName()}, nil
}

// CacheEntry is one machine's self-test outcome.
type CacheEntry struct {
	OSBuild string    `json:"os_build"`
	GPU     string    `json:"gpu"`
	Passed  bool      `json:"passed"`
	Failed  string    `json:"failed,omitempty"`
	At      time.Time `json:"at"`
	Report  Report    `json:"report"`
}

type cacheFile struct {
	Entries []CacheEntry `json:"entries"`
}

// selfTested returns the cached self-test of this OS build and GPU,
// running it on a second device first when there is none (the self-test
// closes its device; dev stays open for the backend).
func (c Chooser) selfTested(dev Device) (CacheEntry, error) {
	osb, gpu := c.OSBuild(), dev.Name()
	if e, ok := c.lookup(osb, gpu); ok {
		return e, nil
	}
	probe, err := c.Open()
	if err != nil {
		return CacheEntry{}, err
	}
	rep, err := SelfTest(probe, 1)
	if err != nil {
		return CacheEntry{}, fmt.Errorf("Metal self-test: %w", err)
	}
	e, err := c.Store(osb, rep)
	if err != nil {
		return e, nil // the result stands even if it cannot be cached
	}
	return e, nil
}

func (c Chooser) lookup(osb, gpu string) (CacheEntry, bool) {
	f, err := readCache(c.CachePath)
	if err != nil {
		return CacheEntry{}, false
	}
	for _, e := range f.Entries {
		if e.OSBuild == osb && e.GPU == gpu {
			return e, true
		}
	}
	return CacheEntry{}, false
}

// Store records a self-test report for osBuild and the report's GPU,
// replacing an older result for the same pair.
func (c Chooser) Store(osBuild string, rep Report) (CacheEntry, error) {
	c = c.defaults()
	e := CacheEntry{OSBuild: osBuild, GPU: rep.Device, Passed: rep.Passed(), Failed: rep.Failed(), At: c.Now().UTC(), Report: rep}
	if c.CachePath == "" {
		return e, errors.New("no user cache folder for the self-test result")
	}
	f, err := readCache(c.CachePath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		f = cacheFile{} // a corrupt cache is rebuilt
	}
	kept := f.Entries[:0]
	for _, old := range f.Entries {
		if old.OSBuild != osBuild || old.GPU != rep.Device {
			kept = append(kept, old)
		}
	}
	f.Entries = append(kept, e)
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return e, err
	}
	if err := os.MkdirAll(filepath.Dir(c.CachePath), 0o755); err != nil {
		return e, fmt.Errorf("self-test cache: %w", err)
	}
	tmp := c.CachePath + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return e, fmt.Errorf("self-test cache: %w", err)
	}
	return e, os.Rename(tmp, c.CachePath)
}

func readCache(path string) (cacheFile, error) {
	var f cacheFile
	data, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return cacheFile{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
