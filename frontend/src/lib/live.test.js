import { describe, expect, it } from 'vitest';
import { backoff, emptyLive, reduceLive } from './live.js';
import { liveEvents } from './fixtures/record.js';
import { parseRoute } from './router.svelte.js';
import { runsQuery } from './api.js';

describe('reduceLive', () => {
  const final = liveEvents().reduce(reduceLive, emptyLive());
  it('collects tokens, keeping unavailable energy null', () => {
    expect(final.tokens.map((t) => t.piece)).toEqual(['Hi', ' there']);
    expect(final.tokens[0].energyJ).toBe(0.04);
    expect(final.tokens[1].energyJ).toBeNull();
    expect(final.tokens[1].label).toBe('unavailable');
  });
  it('builds power series per domain and total', () => {
    expect(Object.keys(final.power.series)).toEqual(['cpu']);
    expect(final.power.series.cpu.points.map((p) => p.x)).toEqual([0.01, 0.02]);
    expect(final.power.total.kind).toBe('estimated');
    expect(final.power.total.points.map((p) => p.y)).toEqual([9.5, 10.5]);
  });
  it('tracks phase, heatmap, status', () => {
    expect(final.phase.phase).toBe('decode');
    expect(final.heatmap.token_index).toBe(0);
    expect(final.status).toBe('done');
    expect(final.op).toBeNull();
    expect(final.meta.model_name).toBe('demo-llama-tiny');
  });
  it('a new run id resets the previous run', () => {
    const next = reduceLive(final, { run_id: 'other', type: 'token', data: { index: 0, piece: 'x', energy_j: null } });
    expect(next.runId).toBe('other');
    expect(next.tokens).toHaveLength(1);
    expect(next.power.total.points).toHaveLength(0);
    expect(next.queue).toEqual(final.queue);
  });
  it('does not mutate the previous state', () => {
    const s0 = emptyLive();
    reduceLive(s0, liveEvents()[6]);
    expect(s0.tokens).toHaveLength(0);
  });
  it('accepts the profiler event shapes too', () => {
    let s = emptyLive();
    s = reduceLive(s, { run_id: 'p', type: 'position', data: { phase: 'decode', layer: 1, component: 'q_proj' } });
    s = reduceLive(s, { run_id: 'p', type: 'power', data: { t_ns: 5e8, power: { source: 'rapl', kind: 'measured_counter', watts: { package: 12, cpu: 9 } } } });
    s = reduceLive(s, { run_id: 'p', type: 'token', data: { token: { index: 0, text: 'a', energy_j: 0.1, label: 'apportioned rapl' } } });
    s = reduceLive(s, { run_id: 'p', type: 'completed', data: { status: 'completed' } });
    expect(s.power.total.points).toEqual([{ x: 0.5, y: 12 }]);
    expect(s.tokens[0]).toMatchObject({ piece: 'a', energyJ: 0.1, label: 'apportioned rapl' });
    expect(s.status).toBe('done');
  });
  it('backs off to at most 10 s', () => {
    expect(backoff(0)).toBe(500);
    expect(backoff(3)).toBe(4000);
    expect(backoff(20)).toBe(10000);
  });
});

describe('repeats', () => {
  it('a repeat cooling down shows as its run, then the run replaces it', () => {
    let s = emptyLive();
    s = reduceLive(s, { run_id: 'r2', type: 'cooldown', data: { seconds: 5, repeat_index: 2, repeat_count: 3 } });
    expect(s.runId).toBe('r2');
    expect(s.cooldown).toMatchObject({ repeat_index: 2, repeat_count: 3 });
    s = reduceLive(s, { run_id: 'r2', type: 'run', data: { model_name: 'm' } });
    expect(s.cooldown).toBeNull();
  });
});

describe('routes', () => {
  it.each([
    ['', { name: 'live' }],
    ['#/run/abc%20d', { name: 'analysis', id: 'abc d' }],
    ['#/analysis', { name: 'analysis', id: '' }],
    ['#/analysis/xyz', { name: 'analysis', id: 'xyz' }],
    ['#/tradeoff', { name: 'tradeoff' }],
    ['#/help', { name: 'help' }],
    ['#/compare?ids=a,b,c', { name: 'compare', ids: ['a', 'b', 'c'] }],
    ['#/history', { name: 'history' }],
    ['#/nope', { name: 'notfound' }],
  ])('%s', (hash, want) => {
    expect(parseRoute(hash)).toMatchObject(want);
  });
});

describe('runsQuery', () => {
  it('leaves out empty fields and repeats tags', () => {
    expect(runsQuery({ search: 'fox', model: '', tags: ['a', 'b'], sort: 'energy', order: 'asc', limit: 50, offset: 0 })).toBe(
      '?search=fox&sort=energy&order=asc&limit=50&offset=0&tag=a&tag=b',
    );
    expect(runsQuery({})).toBe('');
  });
});
