//go:build linux

package power

import (
	"fmt"

	"github.com/ebitengine/purego"
)

// loadNVML dlopens NVML with purego and binds the calls nvmlFuncs needs.
// nvmlDevice_t is a one-pointer struct, passed like a pointer: uintptr.
func loadNVML(path string) (*nvmlFuncs, error) {
	lib, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("dlopen %s: %w", path, err)
	}
	f := &nvmlFuncs{}
	bind := func(fptr any, names ...string) error {
		var lastErr error
		for _, name := range names {
			sym, err := purego.Dlsym(lib, name)
			if err == nil {
				purego.RegisterFunc(fptr, sym)
				return nil
			}
			lastErr = err
		}
		return fmt.Errorf("%s lacks %s (driver too old?): %w", path, names[0], lastErr)
	}
	required := []struct {
		fptr  any
		names []string
	}{
		{&f.Init, []string{"nvmlInit_v2", "nvmlInit"}},
		{&f.Shutdown, []string{"nvmlShutdown"}},
		{&f.ErrorString, []string{"nvmlErrorString"}},
		{&f.DeviceGetCount, []string{"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"}},
		{&f.DeviceGetHandleByIndex, []string{"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"}},
		{&f.DeviceGetPowerUsage, []string{"nvmlDeviceGetPowerUsage"}},
	}
	for _, r := range required {
		if err := bind(r.fptr, r.names...); err != nil {
			purego.Dlclose(lib)
			return nil, err
		}
	}
	// Optional: older drivers lack them; the logic copes with nil.
	if bind(&f.DeviceGetName, "nvmlDeviceGetName") != nil {
		f.DeviceGetName = nil
	}
	if bind(&f.DeviceGetTotalEnergyConsumption, "nvmlDeviceGetTotalEnergyConsumption") != nil {
		f.DeviceGetTotalEnergyConsumption = nil
	}
	return f, nil
}
