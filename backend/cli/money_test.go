package cli

import "testing"

func TestReadableMoneyAndCO2(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{usd(1.4523), "$1.45"},
		{usd(0.0172), "$0.0172"},
		{usd(0.12), "$0.12"},
		{usd(0.0035), "0.35 ¢"},
		{costPerRun(1.45e-7), "$0.145 per million runs"},
		{costPerRun(0.05), "$0.05 per run"},
		{costPerRun(0.00035), "0.035 ¢ per run"},
		{grams(0.0132), "13.2 mg"},
		{grams(1320), "1.32 kg"},
		{grams(4.5e-6), "4.5 µg"},
		{grams(2.5), "2.5 g"}, {usd(12.3), "$12.30"}, {grams(400), "400 g"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
