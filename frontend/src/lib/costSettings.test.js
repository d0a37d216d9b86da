import { describe, expect, it } from 'vitest';
import { costFigures, gramsPerKWh, loadCostSettings, saveCostSettings } from './costSettings.js';

describe('cost and CO₂ figures', () => {
  it('follow the definitions: kWh × price, kWh × intensity, per million output tokens', () => {
    // 36 J = 1e-5 kWh; 20 output tokens.
    const f = costFigures(36, 20, 0.3, 200);
    expect(f.costUSD).toBeCloseTo(3e-6, 15);
    expect(f.co2G).toBeCloseTo(2e-3, 15);
    expect(f.costPerMTokens).toBeCloseTo((3e-6 * 1e6) / 20, 12);
    expect(f.co2PerMTokens).toBeCloseTo((2e-3 * 1e6) / 20, 12);
  });
  it('are unavailable without energy or tokens, never 0', () => {
    expect(costFigures(null, 20, 0.3, 200)).toEqual({ costUSD: null, costPerMTokens: null, co2G: null, co2PerMTokens: null });
    expect(costFigures(36, 0, 0.3, 200).costPerMTokens).toBeNull();
  });
  it('resolve presets and custom intensities', () => {
    expect(gramsPerKWh('texas')).toBe(500);
    expect(gramsPerKWh('custom', '123')).toBe(123);
  });
});

describe('remembered settings', () => {
  const mem = () => {
    const m = new Map();
    return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, v) };
  };
  it('round-trip and fall back to the defaults on junk', () => {
    const st = mem();
    expect(loadCostSettings(st)).toEqual({ price: 0.12, preset: 'us', customG: 400 });
    saveCostSettings({ price: 0.3, preset: 'custom', customG: 123 }, st);
    expect(loadCostSettings(st)).toEqual({ price: 0.3, preset: 'custom', customG: 123 });
    st.setItem('energyprofiler.cost', '{"price":-1}');
    expect(loadCostSettings(st).price).toBe(0.12);
  });
});
