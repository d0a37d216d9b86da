import { describe, expect, it } from 'vitest';
import { basisOf, basisText, fmtCO2, fmtCostPerRun, fmtMetric, fmtUSD, fmtValue, fmtNumber, informativeBound } from './format.js';

describe('fmtValue', () => {
  it.each([
    [0.0012, 'J', '1.2 mJ'],
    [1.234, 'J', '1.23 J'],
    [2500, 'J', '2.5 kJ'],
    [3.2e-6, 'J', '3.2 µJ'],
    [12.345, 'W', '12.3 W'],
    [0.25, 's', '250 ms'],
    [125, 's', '2 min 5 s'],
    [190.4, 'tok/s', '190 tok/s'],
    [0, 'J', '0 J'],
    // Energies per something take the prefix on the J, as J does alone.
    [-9.41e-4, 'J/token', '-941 µJ/token'],
    [0.0723, 'J/token', '72.3 mJ/token'],
    [1.2, 'J/token', '1.2 J/token'],
    [0.0044, 'J/Mparam', '4.4 mJ/Mparam'],
    [0.0277, 'J·s', '27.7 mJ·s'],
  ])('%s %s → %s', (v, u, want) => {
    expect(fmtValue(v, u)).toBe(want);
  });
  it('writes energies per token, per parameter and energy-delay products without exponents', () => {
    for (const unit of ['J', 'J/token', 'J/Mparam', 'J·s']) {
      for (let e = -8; e <= 3; e++) {
        for (const v of [1.23 * 10 ** e, -4.56 * 10 ** e]) expect(fmtValue(v, unit)).not.toMatch(/e[-+]?\d/);
      }
    }
  });
  it('never renders a missing number as 0', () => {
    expect(fmtValue(null, 'J')).toBe('unavailable');
    expect(fmtValue(undefined, 'W')).toBe('unavailable');
    expect(fmtValue(NaN, 'J')).toBe('unavailable');
    expect(fmtNumber(null)).toBe('—');
  });
});

describe('fmtMetric', () => {
  it('keeps the provenance label with the value', () => {
    const f = fmtMetric({ value: 0.05, unit: 'J/token', label: 'apportioned rapl' });
    expect(f).toEqual({ text: '50 mJ/token', label: 'apportioned rapl', basis: 'apportioned', available: true });
  });
  it('marks a null value unavailable, not 0', () => {
    const f = fmtMetric({ value: null, unit: 'J', label: 'unavailable' });
    expect(f.available).toBe(false);
    expect(f.text).toBe('unavailable');
    expect(f.text).not.toContain('0');
  });
  it('reads the basis from labels', () => {
    expect(basisOf('estimated cpu-load')).toBe('estimated');
    expect(basisOf('measured clock')).toBe('measured');
    expect(basisOf('')).toBe('unavailable');
  });
});

describe('readable money and CO₂', () => {
  it.each([
    [fmtUSD(1.4523), '$1.45'],
    [fmtUSD(0.12), '$0.12'],
    [fmtUSD(0.0172), '$0.0172'],
    [fmtUSD(12.3), '$12.30'],
    [fmtUSD(0.0035), '0.35 ¢'],
    [fmtUSD(8.6e-5), '0.0086 ¢'],
    [fmtUSD(1.2e-7), '0.000012 ¢'],
    [fmtUSD(1234.5), '$1,235'],
    [fmtCostPerRun(1.45e-7), '$0.145 per million runs'],
    [fmtCostPerRun(0.05), '$0.05 per run'],
    [fmtCostPerRun(0.00035), '0.035 ¢ per run'],
    [fmtCO2(0.0132), '13.2 mg'],
    [fmtCO2(1320), '1.32 kg'],
    [fmtCO2(2.5), '2.5 g'],
    [fmtCO2(4.5e-6), '4.5 µg'],
    [fmtValue(0.0172, 'USD/Mtoken'), '$0.0172 per M tokens'],
    [fmtValue(1320, 'g/Mtoken'), '1.32 kg per M tokens'],
  ])('%s is %s', (got, want) => {
    expect(got).toBe(want);
  });
  it('never writes 1.45e-7 USD for a run', () => {
    expect(fmtValue(1.45e-7, 'USD')).not.toContain('USD');
    expect(fmtCostPerRun(1.45e-7)).not.toMatch(/e-/);
  });
});

describe('uncertainty that informs', () => {
  it('shows the bound of a measured window', () => {
    expect(informativeBound(12.5, 0.3, 'measured rapl')).toBe(0.3);
  });
  it('hides the worst-case bound of a tiny apportioned call', () => {
    // A 23 µJ component call sharing a 0.29 J sample.
    expect(informativeBound(23e-6, 0.29, 'apportioned rapl')).toBeNull();
  });
  it('shows an apportioned aggregate whose bound is tight', () => {
    expect(informativeBound(2.0, 0.1, 'apportioned rapl')).toBe(0.1);
    expect(informativeBound(2.0, 0.5, 'apportioned rapl')).toBeNull();
  });
  it('shows nothing for estimates or missing values', () => {
    expect(informativeBound(2.0, 0.1, 'estimated cpu-load')).toBeNull();
    expect(informativeBound(null, 0.1, 'measured rapl')).toBeNull();
  });
  it('labels time-share apportioning as such', () => {
    expect(basisText('apportioned rapl')).toBe('apportioned by time share · rapl');
    expect(basisText('measured rapl')).toBe('measured rapl');
  });
});
