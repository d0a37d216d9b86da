import { describe, expect, it } from 'vitest';
import { makeRecord, liveEvents } from './fixtures/record.js';
import {
  LAYER_COMPONENTS,
  componentGroup,
  drillDown,
  expertMatrix,
  expertOf,
  isMoE,
  loadSpread,
  modelFactsText,
  heatmapMatrix,
  liveHeatmapMatrix,
  metricAvailability,
  phaseBars,
  phaseSections,
  powerSeriesFromSamples,
  readingWatts,
  sankeyGraph,
  tokenRows,
  totalWatts,
  treemapHierarchy,
} from './transforms.js';

describe('heatmapMatrix', () => {
  const rec = makeRecord({ layers: 3, tokens: 4 });
  it('builds layers × components in engine order, skipping calls outside the stack', () => {
    const m = heatmapMatrix(rec.components, 'time');
    expect(m.layers).toEqual([0, 1, 2]);
    expect(m.components).toEqual(['input_layernorm', 'q_proj', 'k_proj', 'v_proj', 'rope', 'attention', 'o_proj', 'post_attention_layernorm', 'gate_proj', 'up_proj', 'activation', 'down_proj']);
    expect(m.components.every((c) => LAYER_COMPONENTS.includes(c))).toBe(true);
    expect(m.values).toHaveLength(3);
    expect(m.values[0]).toHaveLength(12);
  });
  it('sums time and energy over calls, and filters one token', () => {
    const all = heatmapMatrix(rec.components, 'energy');
    const calls = rec.components.filter((c) => c.layer === 1 && c.component === 'q_proj');
    expect(calls).toHaveLength(4); // prefill + 3 decode tokens
    expect(all.values[1][1]).toBeCloseTo(calls.reduce((a, c) => a + c.energy_j, 0), 12);
    const t2 = heatmapMatrix(rec.components, 'time', { tokenIndex: 2 });
    const c2 = calls.find((c) => c.token_index === 2);
    expect(t2.values[1][1]).toBeCloseTo((c2.end_ns - c2.start_ns) / 1e9, 12);
    expect(all.label).toBe('apportioned rapl');
  });
  it('power is energy over time', () => {
    const e = heatmapMatrix(rec.components, 'energy').values[0][5];
    const t = heatmapMatrix(rec.components, 'time').values[0][5];
    expect(heatmapMatrix(rec.components, 'power').values[0][5]).toBeCloseTo(e / t, 9);
  });
  it('activation std is the average of the calls\' standard deviations', () => {
    const comps = [
      { layer: 0, component: 'q_proj', token_index: 0, start_ns: 0, end_ns: 10, stats: { mean: 0, std: 1, max_abs: 2, sparsity: 0 } },
      { layer: 0, component: 'q_proj', token_index: 1, start_ns: 10, end_ns: 20, stats: { mean: 0, std: 3, max_abs: 5, sparsity: 0 } },
      { layer: 0, component: 'k_proj', token_index: 0, start_ns: 20, end_ns: 30 },
    ];
    const m = heatmapMatrix(comps, 'act_std');
    expect(m.values[0][m.components.indexOf('q_proj')]).toBeCloseTo(2, 12);
    expect(m.values[0][m.components.indexOf('k_proj')]).toBeNull(); // no statistics: unavailable, not 0
    expect(m.label).toBe('measured activations');
  });
  it('makes unmeasured energy null, never 0', () => {
    const m = heatmapMatrix(makeRecord({ energy: false }).components, 'energy');
    expect(m.values.flat().every((v) => v === null)).toBe(true);
    expect(m.label).toBe('unavailable');
  });
  it('a cell with one unattributed call is unavailable', () => {
    const r = makeRecord({ layers: 1, tokens: 2 });
    r.components.find((c) => c.layer === 0 && c.component === 'rope').energy_j = null;
    const m = heatmapMatrix(r.components, 'energy');
    expect(m.values[0][m.components.indexOf('rope')]).toBeNull();
    expect(m.values[0][m.components.indexOf('q_proj')]).not.toBeNull();
  });
  it('entropy only exists for deep runs', () => {
    expect(heatmapMatrix(makeRecord().components, 'entropy').values.flat().every((v) => v === null)).toBe(true);
    const deep = heatmapMatrix(makeRecord({ depth: 'deep' }).components, 'entropy');
    const col = deep.components.indexOf('attention');
    expect(deep.values[0][col]).toBeGreaterThan(0);
    expect(deep.values[0][0]).toBeNull();
  });
});

describe('metricAvailability', () => {
  it('disables attention entropy on module runs and says why', () => {
    const a = metricAvailability(makeRecord({ depth: 'module' }));
    expect(a.time.ok).toBe(true);
    expect(a.entropy.ok).toBe(false);
    expect(a.entropy.why).toMatch(/deep/);
    expect(metricAvailability(makeRecord({ depth: 'deep' })).entropy.ok).toBe(true);
  });
  it('disables energy and power when nothing was measured', () => {
    const a = metricAvailability(makeRecord({ energy: false }));
    expect(a.energy.ok).toBe(false);
    expect(a.power.ok).toBe(false);
    expect(a.time.ok).toBe(true);
  });
});

describe('liveHeatmapMatrix', () => {
  const hm = liveEvents().find((e) => e.type === 'heatmap').data;
  it('reads energy rows and keeps nulls', () => {
    const m = liveHeatmapMatrix(hm, 'energy');
    expect(m.layers).toEqual([0, 1]);
    expect(m.values[0][3]).toBeCloseTo(0.003);
    expect(m.values[1].every((v) => v === null)).toBe(true);
    expect(m.label).toBe('estimated cpu-load');
  });
  it('reads time in ms as seconds', () => {
    expect(liveHeatmapMatrix(hm, 'time').values[1][0]).toBeCloseTo(0.0002);
  });
});

describe('drillDown', () => {
  it('averages deep stats of one layer and component', () => {
    const rec = makeRecord({ depth: 'deep', tokens: 3 });
    const d = drillDown(rec.components, 0, 'attention');
    const calls = rec.components.filter((c) => c.layer === 0 && c.component === 'attention');
    expect(d.calls).toBe(3);
    expect(d.deep.attention_entropy).toBeCloseTo(calls.reduce((a, c) => a + c.deep.attention_entropy, 0) / 3, 12);
    expect(d.deep.mlp_kill_ratio).toBeNull();
    expect(d.hasDeep).toBe(true);
    expect(drillDown(rec.components, 0, 'attention', 1).calls).toBe(1);
  });
  it('energy of a cell without power is null', () => {
    expect(drillDown(makeRecord({ energy: false }).components, 0, 'q_proj').energyJ).toBeNull();
  });
});

describe('power series', () => {
  it('converts counter deltas and sampled power to watts', () => {
    expect(readingWatts({ energy_mj: 10, has_energy: true }, 1e9)).toBeCloseTo(0.01);
    expect(readingWatts({ power_mw: 2500, has_power: true }, 1e9)).toBeCloseTo(2.5);
    expect(readingWatts({ has_energy: false, has_power: false }, 1e9)).toBeNull();
  });
  it('does not double count domains inside the package', () => {
    expect(totalWatts({ cpu: 9, dram: 2, package: 12 })).toBe(14);
    expect(totalWatts({ cpu: 9, gpu0: 50 })).toBe(59);
    expect(totalWatts({})).toBeNull();
  });
  it('adds the latest total of every source (RAPL and NVML sample apart)', () => {
    const c = (t0, t1, source, domains) => ({ t0_ns: t0, t1_ns: t1, source, kind: 'measured_counter', domains });
    const e = (w, dt) => ({ energy_mj: (w * dt) / 1e6, has_energy: true });
    const p = powerSeriesFromSamples([
      c(0, 1e8, 'rapl', { package: e(10, 1e8), cpu: e(8, 1e8), dram: e(2, 1e8) }),
      c(0, 1.5e8, 'nvml', { gpu0: e(50, 1.5e8) }),
      c(1e8, 2e8, 'rapl', { package: e(20, 1e8), cpu: e(18, 1e8), dram: e(2, 1e8) }),
    ]);
    // RAPL's total is package + DRAM (12 W, then 22 W); NVML's 50 W overlaps
    // both of its samples: 62 W, 72 W, then RAPL's 22 W alone.
    expect(p.total.points.map((q) => Math.round(q.y))).toEqual([62, 72, 22, 22]);
    expect(p.total.points.map((q) => q.x)).toEqual([0, 0.1, 0.15, 0.2]);
    expect(Object.keys(p.series).sort()).toEqual(['cpu', 'dram', 'gpu0', 'package']);
    expect(p.series.gpu0.family).toBe('gpu');
  });
  it('keeps absent domains absent', () => {
    const p = powerSeriesFromSamples(makeRecord({ source: 'cpu-load' }).power_samples);
    expect(Object.keys(p.series)).toEqual(['cpu']);
    expect(p.series.cpu.kind).toBe('estimated');
    expect(p.total.kind).toBe('estimated');
    const q = powerSeriesFromSamples(makeRecord({ source: 'rapl' }).power_samples);
    expect(Object.keys(q.series).sort()).toEqual(['cpu', 'dram', 'package']);
    const first = makeRecord({ source: 'rapl' }).power_samples.find((smp) => smp.domains.cpu);
    expect(q.series.cpu.points[0].x).toBeCloseTo(first.t0_ns / 1e9, 12); // held from the sample's start
  });
});

describe('phases and tokens', () => {
  const rec = makeRecord({ tokens: 4 });
  it('phase bars carry duration and energy with its label', () => {
    const b = phaseBars(rec);
    expect(b.map((x) => x.phase)).toEqual(['pre_inference', 'prefill', 'decode', 'post_inference']);
    expect(b[0].durS).toBeCloseTo(0.002);
    expect(b[1].label).toBe('apportioned rapl');
    expect(phaseBars(makeRecord({ energy: false }))[1].energyJ).toBeNull();
  });
  it('decode expands into tokens, prefill into layers', () => {
    expect(phaseSections(rec, 'decode').map((s) => s.name)).toEqual(['token 1', 'token 2', 'token 3']);
    expect(phaseSections(rec, 'prefill').map((s) => s.name)).toEqual(['embedding', 'layer 0', 'layer 1', 'final_norm', 'lm_head']);
  });
  it('token rows keep null energy null', () => {
    expect(tokenRows(makeRecord({ energy: false })).every((t) => t.energyJ === null && t.powerW === null)).toBe(true);
  });
});

describe('treemapHierarchy', () => {
  it('nests run → phases → layers → components and sums to the components', () => {
    const rec = makeRecord({ layers: 2, tokens: 3 });
    const { root, valueKind } = treemapHierarchy(rec);
    expect(valueKind).toBe('energy');
    expect(root.children.map((p) => p.name)).toEqual(['prefill', 'decode']);
    const prefill = root.children[0];
    expect(prefill.children.map((l) => l.name)).toEqual(['outside the layers: embedding, final norm, LM head', 'layer 0', 'layer 1']);
    const sum = (n) => (n.children ? n.children.reduce((a, c) => a + sum(c), 0) : n.value);
    const want = rec.components.reduce((a, c) => a + c.energy_j, 0);
    expect(sum(root)).toBeCloseTo(want, 12);
  });
  it("says what the tile outside the layers holds, sampling included, and adds up to the tokens", () => {
    const rec = makeRecord({ layers: 1, tokens: 3 });
    // Give each decode token energy outside its component calls (sampling).
    for (const t of rec.tokens) if (t.phase === 'decode') t.other_j = 0.001;
    const decode = treemapHierarchy(rec).root.children.find((p) => p.name === 'decode');
    const outside = decode.children[0];
    expect(outside.name).toBe('outside the layers: embedding, final norm, LM head, sampling');
    expect(outside.children.find((c) => c.name === 'sampling & glue').value).toBeCloseTo(0.002, 12);
    const sum = (n) => (n.children ? n.children.reduce((a, c) => a + sum(c), 0) : n.value);
    const comps = rec.components.filter((c) => c.phase === 'decode').reduce((a, c) => a + c.energy_j, 0);
    expect(sum(decode)).toBeCloseTo(comps + 0.002, 12);
  });
  it('splits attention into softmax and the rest in deep runs', () => {
    const { root } = treemapHierarchy(makeRecord({ depth: 'deep' }));
    const att = root.children[0].children[1].children.find((c) => c.name === 'attention');
    expect(att.children.map((c) => c.name)).toEqual(['softmax', 'scores + weighted sum']);
  });
  it('falls back to time when the run has no energy', () => {
    expect(treemapHierarchy(makeRecord({ energy: false })).valueKind).toBe('time');
  });
});

describe('sankeyGraph', () => {
  it('links input → layers → blocks → output and conserves energy', () => {
    const rec = makeRecord({ layers: 2, tokens: 3 });
    const g = sankeyGraph(rec);
    const ids = g.nodes.map((n) => n.id);
    expect(ids).toEqual(['input', 'layer0', 'layer1', 'attention', 'mlp', 'norm', 'output']);
    const inflow = (id) => g.links.filter((l) => l.target === id).reduce((a, l) => a + l.value, 0);
    const outflow = (id) => g.links.filter((l) => l.source === id).reduce((a, l) => a + l.value, 0);
    const layer0 = rec.components.filter((c) => c.layer === 0).reduce((a, c) => a + c.energy_j, 0);
    expect(outflow('layer0')).toBeCloseTo(layer0, 12);
    expect(inflow('output')).toBeCloseTo(outflow('layer0') + outflow('layer1'), 12);
    for (const l of g.links) expect(l.value).toBeGreaterThan(0);
  });
  it('has no graph without energy', () => {
    expect(sankeyGraph(makeRecord({ energy: false }))).toBeNull();
  });
});

describe('mixture of experts', () => {
  const rec = makeRecord({ layers: 2, tokens: 4, promptTokens: 5, experts: 4, shared: true, depth: 'deep' });
  it('knows a MoE run and its expert components', () => {
    expect(isMoE(rec)).toBe(true);
    expect(isMoE(makeRecord())).toBe(false);
    expect(expertOf('experts.12')).toBe(12);
    expect(expertOf('experts')).toBe(null);
    expect(expertOf('gate_proj')).toBe(null);
    expect(['router', 'experts.3', 'shared_expert', 'q_norm', 'gate_proj'].map(componentGroup)).toEqual(['router', 'experts', 'shared_expert', 'attention', 'mlp']);
  });
  it('routing share counts the top-k choices per layer, whole run and one token', () => {
    const m = expertMatrix(rec, 'share');
    expect(m.layers).toEqual([0, 1]);
    expect(m.experts).toEqual([0, 1, 2, 3]);
    // 8 positions × 2 choices in layer 0: position p picks p%4 and (p+1)%4,
    // so every expert gets 4 of 16.
    expect(m.values[0]).toEqual([25, 25, 25, 25]);
    // Token 2 decodes position 6: layer 0 picks experts 2 and 3.
    expect(expertMatrix(rec, 'share', 2).values[0]).toEqual([0, 0, 50, 50]);
    expect(m.label).toMatch(/^measured/);
  });
  it('energy and time sum the expert calls; an expert that never ran is 0', () => {
    const e = expertMatrix(rec, 'energy', 1);
    const calls = rec.components.filter((c) => c.token_index === 1 && c.layer === 1 && c.component.startsWith('experts.'));
    expect(calls).toHaveLength(2);
    for (const c of calls) expect(e.values[1][expertOf(c.component)]).toBeCloseTo(c.energy_j, 12);
    expect(e.values[1].filter((v) => v === 0)).toHaveLength(2);
    expect(e.label).toBe('apportioned rapl');
    const t = expertMatrix(rec, 'time');
    const all = rec.components.filter((c) => c.layer === 0 && c.component === 'experts.1').reduce((a, c) => a + (c.end_ns - c.start_ns), 0);
    expect(t.values[0][1]).toBeCloseTo(all / 1e9, 12);
  });
  it('energy without power is unavailable, not 0', () => {
    const m = expertMatrix(makeRecord({ experts: 4, energy: false }), 'energy');
    expect(m.values.flat().filter((v) => v !== null && v !== 0)).toEqual([]); // ran: null; never ran: 0
    expect(m.values.flat()).toContain(null);
    expect(m.label).toBe('unavailable');
  });
  it('load spread: even routing is 1 and 1; one token concentrates it', () => {
    const s = loadSpread(rec);
    expect(s[0].maxOverMean).toBeCloseTo(1, 12);
    expect(s[0].evenness).toBeCloseTo(1, 12);
    const one = loadSpread(rec, 2)[0];
    expect(one.maxOverMean).toBeCloseTo(2, 12); // two experts of four take 50 % each
    expect(one.evenness).toBeCloseTo(Math.log(2) / Math.log(4), 12);
    expect([2, 3]).toContain(one.busiest);
  });
  it('the heatmap shows all experts as one column and drills into them', () => {
    const m = heatmapMatrix(rec.components, 'time');
    expect(m.components).toEqual(['input_layernorm', 'q_proj', 'k_proj', 'v_proj', 'rope', 'attention', 'o_proj', 'post_attention_layernorm', 'router', 'experts', 'shared_expert']);
    const d = drillDown(rec.components, 0, 'experts');
    expect(d.calls).toBe(rec.components.filter((c) => c.layer === 0 && expertOf(c.component) != null).length);
    expect(drillDown(rec.components, 0, 'router').deep.router_load_balance).toBeGreaterThan(1);
  });
  it('the Sankey splits the MLP into router, routed experts and shared expert', () => {
    const g = sankeyGraph(rec);
    const ids = g.nodes.map((n) => n.id);
    expect(ids).toEqual(expect.arrayContaining(['router', 'experts', 'shared_expert']));
    expect(ids).not.toContain('mlp');
    const exJ = rec.components.filter((c) => expertOf(c.component) != null).reduce((a, c) => a + c.energy_j, 0);
    expect(g.links.find((l) => l.source === 'experts' && l.target === 'output').value).toBeCloseTo(exJ, 12);
  });
  it('the treemap nests MLP → router, shared expert, experts → expert N', () => {
    const { root } = treemapHierarchy(rec);
    const layer0 = root.children.find((p) => p.name === 'decode').children.find((l) => l.name === 'layer 0');
    const moe = layer0.children.find((c) => c.name === 'MLP (mixture of experts)');
    expect(moe.children.map((c) => c.name)).toEqual(['router', 'experts', 'shared expert']);
    expect(moe.children[1].children.map((c) => c.name).sort()).toEqual(['expert 0', 'expert 1', 'expert 2', 'expert 3']);
  });
  it('describes models in one line', () => {
    expect(modelFactsText(rec.run.architecture)).toBe('MoE · 4 experts, top-2 + 1 shared · 25M of 100M active');
    expect(modelFactsText({ params_total: 110_000_000 })).toBe('Dense · 110M params');
    expect(modelFactsText({ experts: 128, top_k: 8, params_total: 30_532_122_624, params_active: 3_353_032_704 })).toBe('MoE · 128 experts, top-8 · 3.4B of 30.5B active');
    expect(modelFactsText(null)).toBe('');
  });
});

import { mergeSteps, powerSteps, stepPoints } from './transforms.js';

describe('powerSteps', () => {
  const s = 1e9;
  // RAPL every 1 s from 0 to 3 s (energy counters), NVML at 1.5 s and 2.5 s
  // (average power), a 0.5 s gap in RAPL's samples from 3 s to 3.5 s.
  const samples = [
    { t0_ns: 0, t1_ns: 1 * s, source: 'rapl', kind: 'measured_counter', domains: { package: { has_energy: true, energy_mj: 10_000 } } },
    { t0_ns: 1 * s, t1_ns: 2 * s, source: 'rapl', kind: 'measured_counter', domains: { package: { has_energy: true, energy_mj: 20_000 }, cpu: { has_energy: true, energy_mj: 15_000 } } },
    { t0_ns: 2 * s, t1_ns: 3 * s, source: 'rapl', kind: 'measured_counter', domains: { package: { has_energy: true, energy_mj: 5_000 } } },
    { t0_ns: 3.5 * s, t1_ns: 4 * s, source: 'rapl', kind: 'measured_counter', domains: { package: { has_energy: true, energy_mj: 4_000 } } },
    { t0_ns: 1.5 * s, t1_ns: 2.5 * s, source: 'nvml', kind: 'measured_power', domains: { gpu: { has_power: true, power_mw: 30_000 } } },
  ];
  it('holds each sample\'s average power over its interval and sums the sources covering each moment', () => {
    const { kind, intervals } = powerSteps(samples);
    expect(kind).toBe('measured');
    // package includes cpu: 20 W, not 35 W, from 1 s to 2 s.
    expect(intervals).toEqual([
      { x0: 0, x1: 1, y: 10 },
      { x0: 1, x1: 1.5, y: 20 },
      { x0: 1.5, x1: 2, y: 50 },
      { x0: 2, x1: 2.5, y: 35 },
      { x0: 2.5, x1: 3, y: 5 },
      { x0: 3, x1: 3.5, y: null },
      { x0: 3.5, x1: 4, y: 8 },
    ]);
    // The area under the steps is the samples' energy: 10+20+5+4 J (RAPL)
    // plus 30 W × 1 s (NVML).
    const area = intervals.reduce((a, iv) => a + (iv.y ?? 0) * (iv.x1 - iv.x0), 0);
    expect(area).toBeCloseTo(69, 9);
  });
  it('cuts the samples to the run window, counting x from its start, as the profiler integrates the run', () => {
    // The run is 0.5 s to 2.25 s on the samples' clock (after its idle
    // baseline): its energy is 10 W × 0.5 s + 20 W × 0.5 s + 50 W × 0.5 s +
    // 35 W × 0.25 s = 48.75 J.
    const { intervals } = powerSteps(samples, [0.5 * s, 2.25 * s]);
    expect(intervals).toEqual([
      { x0: 0, x1: 0.5, y: 10 },
      { x0: 0.5, x1: 1, y: 20 },
      { x0: 1, x1: 1.5, y: 50 },
      { x0: 1.5, x1: 1.75, y: 35 },
    ]);
    const area = intervals.reduce((a, iv) => a + iv.y * (iv.x1 - iv.x0), 0);
    expect(area).toBeCloseTo(48.75, 9);
  });
  it('gives a stored run every domain and the total as steps from the run start, each with its energy as area', () => {
    // Area under a step line drawn with curveStepAfter: each point's y held
    // until the next point's x (a null y draws nothing).
    const area = (pts) => pts.slice(0, -1).reduce((a, p, i) => a + (p.y ?? 0) * (pts[i + 1].x - p.x), 0);
    const p = powerSeriesFromSamples(samples, 1 * s);
    expect(p.step).toBe(true);
    expect(area(p.series.package.points)).toBeCloseTo(10 + 20 + 5 + 4, 9);
    expect(area(p.series.cpu.points)).toBeCloseTo(15, 9);
    expect(area(p.series.gpu.points)).toBeCloseTo(30, 9);
    expect(area(p.total.points)).toBeCloseTo(69, 9);
    // x counts from the run start: the first RAPL sample began 1 s before it.
    expect(p.series.package.points[0]).toEqual({ x: -1, y: 10 });
    expect(p.total.kind).toBe('measured');
  });
  it('merges intervals keeping their area, never across a gap', () => {
    const { intervals } = powerSteps(samples);
    const merged = mergeSteps(intervals, 3);
    const area = (l) => l.reduce((a, iv) => a + (iv.y ?? 0) * (iv.x1 - iv.x0), 0);
    expect(area(merged)).toBeCloseTo(area(intervals), 9);
    expect(merged.some((iv) => iv.y == null && iv.x0 === 3 && iv.x1 === 3.5)).toBe(true);
    expect(merged.length).toBeLessThan(intervals.length);
  });
  it('gives a step-after line its corners and breaks', () => {
    expect(stepPoints([{ x0: 0, x1: 1, y: 2 }, { x0: 1, x1: 2, y: 3 }, { x0: 2, x1: 3, y: null }, { x0: 3, x1: 4, y: 1 }])).toEqual([
      { x: 0, y: 2 }, { x: 1, y: 3 }, { x: 2, y: 3 }, { x: 2, y: null }, { x: 3, y: 1 }, { x: 4, y: 1 },
    ]);
  });
});

describe('powerSeriesFromSamples origin', () => {
  // The run starts 1 s after the profiler (its idle baseline before): a
  // sample from 0.9 s to 1.1 s is held from -0.1 s to 0.1 s, one in the
  // idle from -0.6 s to -0.4 s, with a gap (no line) between them.
  it('counts x from the run start', () => {
    const smp = (t0, t1) => ({ t0_ns: t0 * 1e9, t1_ns: t1 * 1e9, source: 'rapl', kind: 'measured_counter', domains: { package: { has_energy: true, energy_mj: 1000 } } });
    const p = powerSeriesFromSamples([smp(0.4, 0.6), smp(0.9, 1.1)], 1e9);
    expect(p.total.points.map((q) => Number(q.x.toFixed(9)))).toEqual([-0.6, -0.4, -0.4, -0.1, 0.1]);
    expect(p.total.points.map((q) => q.y)).toEqual([5, 5, null, 5, 5]);
  });
});
