import { describe, expect, it } from 'vitest';
import { downsample, lttb } from './lttb.js';

const wave = (n) => Array.from({ length: n }, (_, i) => ({ x: i, y: Math.sin(i / 50) + (i === 5000 ? 10 : 0) }));

describe('lttb', () => {
  it('returns the input when it is already short', () => {
    const pts = wave(10);
    expect(lttb(pts, 50)).toEqual(pts);
  });
  it('keeps exactly threshold points, the first and the last', () => {
    const pts = wave(10000);
    const out = lttb(pts, 500);
    expect(out).toHaveLength(500);
    expect(out[0]).toBe(pts[0]);
    expect(out[499]).toBe(pts[9999]);
  });
  it('keeps a single spike that plain decimation would drop', () => {
    const out = lttb(wave(10000), 300);
    expect(out.some((p) => p.x === 5000)).toBe(true);
  });
  it('keeps x strictly increasing', () => {
    const out = lttb(wave(3000), 200);
    for (let i = 1; i < out.length; i++) expect(out[i].x).toBeGreaterThan(out[i - 1].x);
  });
});

describe('downsample', () => {
  it('keeps gaps (null y) as gaps', () => {
    const pts = wave(4000).map((p) => (p.x >= 2000 && p.x < 2100 ? { x: p.x, y: null } : p));
    const out = downsample(pts, 200);
    expect(out.length).toBeLessThanOrEqual(210);
    const gaps = out.filter((p) => p.y == null);
    expect(gaps).toHaveLength(1);
    expect(gaps[0].x).toBe(2100);
  });
});
