package metal_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/engine/metal"
	"energyprofiler/backend/engine/metal/metaltest"
)

// chooser is a Chooser on open with a private cache and a fixed OS build.
func chooser(t *testing.T, open func() (metal.Device, error)) metal.Chooser {
	return metal.Chooser{
		Threads: 1, Open: open, CachePath: filepath.Join(t.TempDir(), "cache", "selftest.json"),
		OSBuild: func() string { return "macOS 99A1" }, Now: func() time.Time { return time.Unix(1e9, 0) },
	}
}

func TestChooseAuto(t *testing.T) {
	opens := 0
	c := chooser(t, func() (metal.Device, error) { opens++; return metaltest.New(), nil })

	// First auto: the self-test runs (a second device), passes, is cached.
	be, ch, err := c.Choose("auto")
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if ch.Kind != metal.KindMetal || ch.Device != "Fake GPU (metaltest)" || ch.Reason != "" {
		t.Errorf("first auto chose %+v, want metal on the fake GPU", ch)
	}
	if opens != 2 {
		t.Errorf("%d device opens, want 2 (backend and self-test)", opens)
	}
	data, err := os.ReadFile(c.CachePath)
	if err != nil || !strings.Contains(string(data), `"os_build": "macOS 99A1"`) || !strings.Contains(string(data), `"passed": true`) {
		t.Errorf("cache %s: %v", data, err)
	}

	// Second auto: from the cache, no self-test.
	be2, ch, err := c.Choose("")
	if err != nil {
		t.Fatal(err)
	}
	be2.Close()
	if ch.Kind != metal.KindMetal || opens != 3 {
		t.Errorf("cached auto chose %+v after %d opens, want metal after 3", ch, opens)
	}

	// A new OS build runs the self-test again.
	c.OSBuild = func() string { return "macOS 99B2" }
	be3, _, _ := c.Choose("auto")
	be3.Close()
	if opens != 5 {
		t.Errorf("%d opens: a new OS build must run the self-test again", opens)
	}
}

func TestChooseAutoFallsBackWithReason(t *testing.T) {
	// No device: the CPU, saying why.
	c := chooser(t, func() (metal.Device, error) { return nil, metal.ErrNoDevice })
	be, ch, err := c.Choose("auto")
	if err != nil {
		t.Fatal(err)
	}
	be.Close()
	if ch.Kind != metal.KindCPU || !strings.Contains(ch.Reason, "no Metal device") || !strings.HasPrefix(ch.Device, "cpu-") {
		t.Errorf("auto without a device chose %+v", ch)
	}
	// metal asked for explicitly is an error, not a silent CPU run.
	if _, _, err := c.Choose("metal"); !errors.Is(err, metal.ErrNoDevice) {
		t.Errorf("--backend metal without a device: %v", err)
	}
	if _, _, err := c.Choose("cuda"); err == nil {
		t.Error("an unknown backend was accepted")
	}

	// A failed self-test, cached: auto runs on the CPU and names the
	// failing kernels; metal still runs when asked for.
	c = chooser(t, func() (metal.Device, error) { return metaltest.New(), nil })
	rep := metal.Report{Device: "Fake GPU (metaltest)", Checks: []metal.Check{{Op: "attention window=0", MaxErr: 0.5, Tol: 1e-5}}}
	if _, err := c.Store("macOS 99A1", rep); err != nil {
		t.Fatal(err)
	}
	be, ch, err = c.Choose("auto")
	if err != nil {
		t.Fatal(err)
	}
	be.Close()
	if ch.Kind != metal.KindCPU || !strings.Contains(ch.Reason, "self-test failed") || !strings.Contains(ch.Reason, "attention window=0") {
		t.Errorf("auto after a failed self-test chose %+v", ch)
	}
	be, ch, err = c.Choose("metal")
	if err != nil || ch.Kind != metal.KindMetal {
		t.Errorf("--backend metal after a failed self-test: %+v, %v", ch, err)
	}
	be.Close()

	// A corrupt cache is rebuilt by the next result.
	if err := os.WriteFile(c.CachePath, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	be, ch, _ = c.Choose("auto")
	be.Close()
	if ch.Kind != metal.KindMetal {
		t.Errorf("auto with a corrupt cache chose %+v (the self-test should rerun and pass)", ch)
	}
}
