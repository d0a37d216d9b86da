import { describe, expect, it } from 'vitest';
import { basisOf, fmtMetric, fmtValue, fmtNumber } from './format.js';

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
  ])('%s %s → %s', (v, u, want) => {
    expect(fmtValue(v, u)).toBe(want);
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
    expect(f).toEqual({ text: '0.05 J/token', label: 'apportioned rapl', basis: 'apportioned', available: true });
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
