import { describe, expect, it } from 'vitest';
import { dominates, edpLevels, isoLine, paretoFrontier, tradeoffPoints } from './tradeoff.js';

const pt = (id, tps, tpj) => ({ id, tps, tpj, edp: 1 / (tps * tpj) });

// The frontier by its definition: every point that no other point dominates.
function bruteFrontier(points) {
  return points.filter((p) => !points.some((q) => q !== p && q.tps >= p.tps && q.tpj >= p.tpj && (q.tps > p.tps || q.tpj > p.tpj)));
}

describe('paretoFrontier', () => {
  it('keeps the runs no other run beats on both speed and energy', () => {
    const pts = [pt('slow-frugal', 10, 50), pt('fast-hungry', 100, 5), pt('balanced', 50, 20), pt('dominated', 40, 15), pt('worst', 5, 4)];
    expect(paretoFrontier(pts).map((p) => p.id)).toEqual(['slow-frugal', 'balanced', 'fast-hungry']);
  });
  it('agrees with the definition on random clouds, ties included', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let trial = 0; trial < 200; trial++) {
      const pts = Array.from({ length: 1 + Math.floor(rnd() * 30) }, (_, i) => pt(String(i), 1 + Math.floor(rnd() * 10), 1 + Math.floor(rnd() * 10)));
      const want = bruteFrontier(pts).map((p) => p.id).sort();
      const got = paretoFrontier(pts).map((p) => p.id).sort();
      expect(got).toEqual(want);
    }
  });
  it('dominance is strict in at least one metric', () => {
    expect(dominates(pt('a', 2, 2), pt('b', 2, 2))).toBe(false);
    expect(dominates(pt('a', 2, 3), pt('b', 2, 2))).toBe(true);
  });
});

describe('tradeoffPoints', () => {
  it('takes tokens per joule or inverts J/token, and skips runs without both numbers', () => {
    const pts = tradeoffPoints([
      { id: 'a', tokens_per_second: 20, tokens_per_joule: 4, model_name: 'm', backend: 'cpu-avx512 x2', dtype: 'BF16' },
      { id: 'b', tokens_per_second: 10, joules_per_token: 0.5, model_name: 'm' },
      { id: 'c', tokens_per_second: null, joules_per_token: 0.5 },
      { id: 'd', tokens_per_second: 5, joules_per_token: null },
    ]);
    expect(pts.map((p) => p.id)).toEqual(['a', 'b']);
    expect(pts[1].tpj).toBe(2);
    // EDP per token = J/token × s/token.
    expect(pts[0].edp).toBeCloseTo(0.25 * 0.05, 12);
    expect(pts[1].dtype).toBe('unknown dtype');
  });
});

describe('EDP iso-lines', () => {
  it('every point of an iso-line has the same EDP per token', () => {
    for (const p of isoLine(0.02, 1, 1000)) expect(1 / (p.tps * p.tpj)).toBeCloseTo(0.02, 12);
  });
  it('levels follow 1-2-5 steps around the runs', () => {
    const levels = edpLevels([pt('a', 10, 10), pt('b', 100, 10)]); // EDP 0.01 and 0.001
    expect(levels).toContain(0.001);
    expect(levels).toContain(0.01);
    for (const l of levels) expect(String(l)).toMatch(/^(1|2|5)(e-\d+|0*)$|^0\.0*(1|2|5)$/);
    expect(edpLevels([])).toEqual([]);
  });
});
