package profiler

import (
	"errors"
	"fmt"
)

// Limits on the settings a run may be made with. Every value is checked
// before a run starts (the CLI and the API use the same checks), so a run
// never starts with settings that cannot be stored: JSON has no NaN or
// infinity.
const (
	MaxTemperature = 5
	// MaxPriceUSDPerKWh and MaxCO2GPerKWh are far above any real tariff or
	// grid, low enough that no product with them overflows.
	MaxPriceUSDPerKWh = 1000
	MaxCO2GPerKWh     = 10000
)

// Check refuses sampling settings that are not finite or out of range:
// temperature in [0, MaxTemperature] (0: greedy), top-p in (0, 1] (0 also
// means no cut), top-k ≥ 0.
func (s Sampling) Check() error {
	var errs []error
	if !(s.Temperature >= 0 && s.Temperature <= MaxTemperature) {
		errs = append(errs, fmt.Errorf("temperature %v: use a number from 0 (greedy) to %d", s.Temperature, MaxTemperature))
	}
	if !(s.TopP >= 0 && s.TopP <= 1) {
		errs = append(errs, fmt.Errorf("top-p %v: use a number in (0, 1]", s.TopP))
	}
	if s.TopK < 0 {
		errs = append(errs, fmt.Errorf("top-k %d: use 0 (no cut) or more", s.TopK))
	}
	return errors.Join(errs...)
}

// CheckPrice refuses an electricity price that is negative, not finite or
// absurd.
func CheckPrice(usdPerKWh float64) error {
	if !(usdPerKWh >= 0 && usdPerKWh <= MaxPriceUSDPerKWh) {
		return fmt.Errorf("price %v USD/kWh: use a number from 0 to %d", usdPerKWh, MaxPriceUSDPerKWh)
	}
	return nil
}

// CheckCO2 refuses a grid carbon intensity that is negative, not finite or
// absurd.
func CheckCO2(gPerKWh float64) error {
	if !(gPerKWh >= 0 && gPerKWh <= MaxCO2GPerKWh) {
		return fmt.Errorf("co2 %v g/kWh: use a number from 0 to %d", gPerKWh, MaxCO2GPerKWh)
	}
	return nil
}
