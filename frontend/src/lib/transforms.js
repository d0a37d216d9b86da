// Pure data transforms from the API's JSON (the Go profiler.Record and the
// live events) to what the charts draw. Nothing here touches the DOM, so it
// is all unit-tested.
import { basisOf, isNum } from './format.js';

// The components of a decoder layer in execution order (engine.LayerComponents),
// with those only some architectures have: Qwen3/Gemma's q/k norms, Gemma's
// feed-forward norms and a mixture of experts' router, experts (every
// "experts.N" call, drawn as one column) and shared expert.
export const LAYER_COMPONENTS = [
  'input_layernorm',
  'q_proj',
  'k_proj',
  'v_proj',
  'q_norm',
  'k_norm',
  'rope',
  'attention',
  'o_proj',
  'post_attention_layernorm',
  'pre_feedforward_layernorm',
  'gate_proj',
  'up_proj',
  'activation',
  'down_proj',
  'router',
  'experts',
  'shared_expert',
  'post_feedforward_layernorm',
];

// expertOf returns N for an "experts.N" component, else null.
export function expertOf(c) {
  const m = /^experts\.(\d+)$/.exec(c ?? '');
  return m ? Number(m[1]) : null;
}
export const OUTSIDE_COMPONENTS = ['embedding', 'final_norm', 'lm_head'];
export const PHASES = ['pre_inference', 'prefill', 'decode', 'post_inference'];

// Which block of a layer a component belongs to (for the Sankey diagram).
// A mixture of experts splits the MLP into its router, routed experts and
// shared expert.
export function componentGroup(c) {
  if (['q_proj', 'k_proj', 'v_proj', 'q_norm', 'k_norm', 'rope', 'attention', 'o_proj'].includes(c)) return 'attention';
  if (['gate_proj', 'up_proj', 'activation', 'down_proj'].includes(c)) return 'mlp';
  if (c === 'router') return 'router';
  if (c === 'shared_expert') return 'shared_expert';
  if (expertOf(c) != null) return 'experts';
  if (c.includes('norm')) return 'norm';
  return 'other';
}

// modelFactsText is the one-line description of a model's architecture
// (profiler.Architecture or model.Facts): "MoE · 8 experts, top-2 · 27M of
// 98M active" for a mixture of experts, "Dense · 110M params" otherwise.
export function modelFactsText(a) {
  if (!a) return '';
  const total = a.params_total;
  const m = (n) => (n >= 1e9 ? `${(n / 1e9).toFixed(1)}B` : `${Math.round(n / 1e6)}M`);
  if (a.experts > 0) {
    const shared = a.shared_experts > 0 ? ` + ${a.shared_experts} shared` : '';
    const active = total && a.params_active ? ` · ${m(a.params_active)} of ${m(total)} active` : '';
    return `MoE · ${a.experts} experts, top-${a.top_k}${shared}${active}`;
  }
  return total ? `Dense · ${m(total)} params` : 'Dense';
}

// ---------- power ----------

// Colour family of a domain: gpu0, gpu1 … draw as GPU.
export function domainFamily(d) {
  if (/^gpu\d*$/.test(d)) return 'gpu';
  return d;
}

// The domains the charts know, in legend order, with why one may be absent.
export const KNOWN_DOMAINS = [
  { key: 'cpu', name: 'CPU' },
  { key: 'gpu', name: 'GPU' },
  { key: 'ane', name: 'ANE' },
  { key: 'dram', name: 'DRAM' },
  { key: 'package', name: 'Package' },
];

export function absentReason(key, sources) {
  const names = (sources ?? []).map((s) => s.name).join(', ');
  if (!names) return 'no power source is active';
  switch (key) {
    case 'ane':
      return `not reported by ${names} (only Apple Silicon has an ANE)`;
    case 'gpu':
      return `not reported by ${names} (needs NVML on NVIDIA or IOReport on Apple Silicon)`;
    case 'dram':
      return `not reported by ${names} (needs RAPL dram or IOReport)`;
    case 'package':
      return `not reported by ${names}`;
    default:
      return `not reported by ${names}`;
  }
}

// A reading's average power in watts over dtNs: from the counter delta when
// there is one, else from the sampled average power.
export function readingWatts(r, dtNs) {
  if (!r) return null;
  if (r.has_energy && dtNs > 0) return (r.energy_mj * 1e6) / dtNs; // mJ/ns·1e6 = W
  if (r.has_power) return r.power_mw / 1e3;
  if (isNum(r.power_w)) return r.power_w;
  return null;
}

// Whether a domain's energy is already inside a "package" reading of the same
// sample (mirrors profiler.inPackage): CPU and ANE always, the GPU when the
// same source reports both.
function inPackage(d) {
  return d === 'cpu' || d === 'ane' || /^gpu\d*$/.test(d);
}

// totalWatts sums one sample's domains without double counting.
export function totalWatts(watts) {
  const keys = Object.keys(watts).filter((k) => isNum(watts[k]));
  if (keys.length === 0) return null;
  const hasPkg = keys.includes('package');
  let t = 0;
  for (const k of keys) {
    if (hasPkg && k !== 'package' && inPackage(k)) continue;
    t += watts[k];
  }
  return t;
}

// powerSeriesFromSamples draws a stored run's power: every domain and the
// machine's total as the profiler integrates them, each
// sample's average power held over its interval (step: true), x in seconds
// from originNs (the run's start; the idle baseline lies before 0). The
// area under each line is that domain's (or the machine's) energy.
export function powerSeriesFromSamples(samples, originNs = 0, maxSteps = 600) {
  const series = {};
  for (const s of samples ?? []) {
    const dt = s.t1_ns - s.t0_ns;
    if (!(dt > 0)) continue;
    for (const [d, r] of Object.entries(s.domains ?? {})) {
      const w = readingWatts(r, dt);
      if (w == null) continue;
      const ser = (series[d] ??= { domain: d, family: domainFamily(d), kind: s.kind, source: s.source, intervals: [] });
      ser.intervals.push({ x0: (s.t0_ns - originNs) / 1e9, x1: (s.t1_ns - originNs) / 1e9, y: w });
    }
  }
  for (const ser of Object.values(series)) {
    ser.intervals.sort((a, b) => a.x0 - b.x0);
    ser.points = stepPoints(mergeSteps(ser.intervals, maxSteps));
    delete ser.intervals;
  }
  const total = powerSteps(samples);
  const shift = originNs / 1e9;
  const intervals = total.intervals.map((iv) => ({ x0: iv.x0 - shift, x1: iv.x1 - shift, y: iv.y }));
  return { step: true, series, total: { domain: 'total', family: 'total', kind: total.kind, points: stepPoints(mergeSteps(intervals, maxSteps)) } };
}

// powerSteps turns stored power samples into the machine's total power as
// the profiler integrates it: piecewise constant, each sample's average
// power held from its t0 to its t1 (x in seconds from the run start), and
// the total at any time the sum of every source's sample covering it. It
// returns intervals [{x0, x1, y}] (y null where no source has a sample)
// whose areas add up to the samples' energy, and the label of the total.
// With window [a, b] (ns on the samples' clock: the summary's run_start_ns
// and run_end_ns) the samples are cut to the run, as the profiler cuts
// them, and x counts from its start: the area is then the run's energy.
export function powerSteps(samples, window = null) {
  const [wa, wb] = window ?? [-Infinity, Infinity];
  const origin = window ? wa : 0;
  const bySource = new Map();
  let estimated = false;
  for (const s of samples ?? []) {
    const dt = s.t1_ns - s.t0_ns;
    if (!(dt > 0)) continue;
    const t0 = Math.max(s.t0_ns, wa);
    const t1 = Math.min(s.t1_ns, wb);
    if (!(t1 > t0)) continue;
    const watts = {};
    for (const [d, r] of Object.entries(s.domains ?? {})) {
      const w = readingWatts(r, dt);
      if (w != null) watts[d] = w;
    }
    const w = totalWatts(watts);
    if (w == null) continue;
    if (s.kind === 'estimated') estimated = true;
    const list = bySource.get(s.source) ?? [];
    list.push({ a: (t0 - origin) / 1e9, b: (t1 - origin) / 1e9, w });
    bySource.set(s.source, list);
  }
  const lists = [...bySource.values()].map((l) => l.sort((p, q) => p.a - q.a));
  const bounds = [...new Set(lists.flatMap((l) => l.flatMap((p) => [p.a, p.b])))].sort((p, q) => p - q);
  const at = lists.map(() => 0);
  const intervals = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const lo = bounds[i];
    const hi = bounds[i + 1];
    let y = null;
    lists.forEach((l, k) => {
      while (at[k] < l.length && l[at[k]].b <= lo) at[k]++;
      const p = l[at[k]];
      if (p && p.a <= lo && p.b >= hi) y = (y ?? 0) + p.w;
    });
    const last = intervals[intervals.length - 1];
    if (last && last.x1 === lo && last.y === y) last.x1 = hi;
    else intervals.push({ x0: lo, x1: hi, y });
  }
  return { kind: estimated ? 'estimated' : 'measured', intervals };
}

// mergeSteps joins neighbouring intervals into at most about `max`, each
// the time-weighted mean of those it joins, so the area (the energy) is
// kept; gaps (y null) are never joined across.
export function mergeSteps(intervals, max) {
  if (intervals.length <= max || max < 1) return intervals;
  const k = Math.ceil(intervals.length / max);
  const out = [];
  let cur = null;
  let n = 0;
  for (const iv of intervals) {
    if (cur && n < k && iv.y != null && cur.y != null && iv.x0 === cur.x1) {
      const d0 = cur.x1 - cur.x0;
      const d1 = iv.x1 - iv.x0;
      cur.y = (cur.y * d0 + iv.y * d1) / (d0 + d1);
      cur.x1 = iv.x1;
      n++;
    } else {
      cur = { ...iv };
      out.push(cur);
      n = 1;
    }
  }
  return out;
}

// stepPoints turns intervals into points for a step-after line: a point
// at every interval's start, the last value repeated at its end, and a
// break (y null) at every gap.
export function stepPoints(intervals) {
  const pts = [];
  let prev = null;
  for (const iv of intervals) {
    if (iv.y == null) {
      if (prev) pts.push({ x: prev.x1, y: prev.y }, { x: prev.x1, y: null });
      prev = null;
      continue;
    }
    if (prev && prev.x1 !== iv.x0) pts.push({ x: prev.x1, y: prev.y }, { x: prev.x1, y: null });
    pts.push({ x: iv.x0, y: iv.y });
    prev = iv;
  }
  if (prev) pts.push({ x: prev.x1, y: prev.y });
  return pts;
}

// livePowerPoint reads one live `power` event's data (either the documented
// {t_ms, domains: {d: {power_w}}, total_w} or the profiler's {watts}).
export function livePowerPoint(data) {
  const watts = {};
  if (data.domains) {
    for (const [d, v] of Object.entries(data.domains)) {
      const w = typeof v === 'number' ? v : v?.power_w;
      if (isNum(w)) watts[d] = w;
    }
  } else if (data.watts) {
    for (const [d, w] of Object.entries(data.watts)) if (isNum(w)) watts[d] = w;
  }
  const t = isNum(data.t_ms) ? data.t_ms / 1000 : isNum(data.t_ns) ? data.t_ns / 1e9 : null;
  const total = isNum(data.total_w) ? data.total_w : data.total_w === null ? null : totalWatts(watts);
  return { x: t, watts, total, source: data.source, kind: data.kind };
}

// appendLivePower adds one live point to per-domain series (mutating a copy's
// arrays is the caller's business; this returns a new object).
export function appendLivePower(state, data) {
  const p = livePowerPoint(data);
  if (p.x == null) return state;
  const series = { ...state.series };
  for (const [d, w] of Object.entries(p.watts)) {
    const old = series[d];
    series[d] = {
      domain: d,
      family: domainFamily(d),
      kind: p.kind,
      source: p.source,
      points: old ? old.points.concat({ x: p.x, y: w }) : [{ x: p.x, y: w }],
    };
  }
  const tk = p.kind === 'estimated' || state.total?.kind === 'estimated' ? 'estimated' : 'measured';
  const total = { domain: 'total', family: 'total', kind: tk, points: (state.total?.points ?? []).concat({ x: p.x, y: p.total }) };
  return { series, total };
}

// ---------- heatmaps ----------

export const HEATMAP_METRICS = [
  { key: 'time', name: 'Time', unit: 's' },
  { key: 'energy', name: 'Energy', unit: 'J' },
  { key: 'power', name: 'Power', unit: 'W' },
  { key: 'act_mean', name: 'Activation mean', unit: '' },
  { key: 'act_std', name: 'Activation std', unit: '' },
  { key: 'act_max', name: 'Activation max |x|', unit: '' },
  { key: 'sparsity', name: 'Sparsity', unit: '' },
  { key: 'entropy', name: 'Attention entropy', unit: 'nats', deep: true },
];

function orderComponents(seen) {
  const known = LAYER_COMPONENTS.filter((c) => seen.has(c));
  const extra = [...seen].filter((c) => !LAYER_COMPONENTS.includes(c)).sort();
  return known.concat(extra);
}

// heatmapMatrix aggregates component calls (ComponentRecord) into a
// layers × components matrix of one metric. opts.tokenIndex picks one token's
// calls (null: all); opts.phase one phase (null: all). Cells with no data,
// or whose metric is unavailable, are null.
export function heatmapMatrix(components, metric, opts = {}) {
  const { tokenIndex = null, phase = null } = opts;
  const seen = new Set();
  let maxLayer = -1;
  const cells = new Map();
  const labels = new Set();
  for (const c of components ?? []) {
    if (c.layer < 0) continue;
    const comp = expertOf(c.component) != null ? 'experts' : c.component; // one column for all experts
    seen.add(comp);
    maxLayer = Math.max(maxLayer, c.layer);
    if (tokenIndex != null && c.token_index !== tokenIndex) continue;
    if (phase != null && c.phase !== phase) continue;
    const key = c.layer + '|' + comp;
    let a = cells.get(key);
    if (!a) cells.set(key, (a = { n: 0, ns: 0, e: 0, eN: 0, mean: 0, meanN: 0, std: 0, stdN: 0, max: 0, maxN: 0, sp: 0, spN: 0, ent: 0, entN: 0 }));
    a.n++;
    a.ns += c.end_ns - c.start_ns;
    if (isNum(c.energy_j)) {
      a.e += c.energy_j;
      a.eN++;
      if (c.label) labels.add(c.label);
    }
    if (c.stats) {
      a.mean += c.stats.mean;
      a.meanN++;
      if (isNum(c.stats.std)) {
        a.std += c.stats.std;
        a.stdN++;
      }
      a.max = Math.max(a.max, c.stats.max_abs);
      a.maxN++;
      a.sp += c.stats.sparsity;
      a.spN++;
    }
    const ent = c.deep?.attention_entropy;
    if (isNum(ent)) {
      a.ent += ent;
      a.entN++;
    }
  }
  const cols = orderComponents(seen);
  const layers = Array.from({ length: maxLayer + 1 }, (_, i) => i);
  const values = layers.map((l) =>
    cols.map((comp) => {
      const a = cells.get(l + '|' + comp);
      if (!a) return null;
      switch (metric) {
        case 'time':
          return a.ns / 1e9;
        case 'energy':
          // A cell is only as good as its calls: any unattributed call makes it unavailable.
          return a.eN === a.n ? a.e : null;
        case 'power':
          return a.eN === a.n && a.ns > 0 ? a.e / (a.ns / 1e9) : null;
        case 'act_mean':
          return a.meanN ? a.mean / a.meanN : null;
        case 'act_std':
          // The average of each call's standard deviation: how spread the
          // activations of a typical call are.
          return a.stdN ? a.std / a.stdN : null;
        case 'act_max':
          return a.maxN ? a.max : null;
        case 'sparsity':
          return a.spN ? a.sp / a.spN : null;
        case 'entropy':
          return a.entN ? a.ent / a.entN : null;
        default:
          return null;
      }
    }),
  );
  const label =
    metric === 'energy' || metric === 'power'
      ? [...labels].sort((x, y) => basisRank(y) - basisRank(x))[0] ?? 'unavailable'
      : metric === 'time'
        ? 'measured clock'
        : 'measured activations';
  return { layers, components: cols, values, label };
}

function basisRank(label) {
  return { measured: 0, apportioned: 1, estimated: 2, unavailable: 3 }[basisOf(label)] ?? 3;
}

// liveHeatmapMatrix reads a live `heatmap` event: energy_j (or, when energy
// is unknown, time) per layer and component.
export function liveHeatmapMatrix(data, metric = 'energy') {
  if (!data) return null;
  const comps = data.components ?? [];
  let rows;
  if (metric === 'energy') rows = data.energy_j;
  else if (data.time_ms) rows = data.time_ms.map((r) => r.map((v) => (isNum(v) ? v / 1000 : null)));
  else if (data.duration_us) rows = data.duration_us.map((r) => r.map((v) => (isNum(v) ? v / 1e6 : null)));
  const n = data.layers ?? rows?.length ?? 0;
  const layers = Array.from({ length: n }, (_, i) => i);
  const values = layers.map((l) => comps.map((_, j) => (rows?.[l] && isNum(rows[l][j]) ? rows[l][j] : null)));
  return { layers, components: comps, values, label: metric === 'energy' ? data.label || 'unavailable' : 'measured clock' };
}

export function matrixExtent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of values) for (const v of row) if (isNum(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  return lo === Infinity ? null : [lo, hi];
}

// metricAvailability says which heatmap metrics a run has, and why not.
export function metricAvailability(record) {
  const comps = record?.components ?? [];
  const depth = record?.run?.settings?.depth;
  const hasEnergy = comps.some((c) => isNum(c.energy_j));
  const hasStats = comps.some((c) => c.stats);
  const hasEntropy = comps.some((c) => isNum(c.deep?.attention_entropy));
  const out = {};
  for (const m of HEATMAP_METRICS) {
    let ok = comps.length > 0;
    let why = ok ? '' : 'this run has no component records (profiled with depth off?)';
    if (ok && (m.key === 'energy' || m.key === 'power') && !hasEnergy) {
      ok = false;
      why = 'no power sample covers the components, so their energy is unavailable';
    }
    if (ok && ['act_mean', 'act_std', 'act_max', 'sparsity'].includes(m.key) && !hasStats) {
      ok = false;
      why = 'no activation statistics were recorded';
    }
    if (ok && m.key === 'entropy' && !hasEntropy) {
      ok = false;
      why = depth === 'deep' ? 'no attention entropy was recorded' : `deep runs only (this run used depth "${depth ?? 'module'}"); start a run with depth deep`;
    }
    out[m.key] = { ok, why };
  }
  return out;
}

// drillDown gathers every call of one (layer, component), optionally of one
// token, with its activation and deep-op statistics averaged.
export function drillDown(components, layer, component, tokenIndex = null) {
  const match = component === 'experts' ? (c) => expertOf(c) != null : (c) => c === component;
  const calls = (components ?? []).filter(
    (c) => c.layer === layer && match(c.component) && (tokenIndex == null || c.token_index === tokenIndex),
  );
  const avg = (get) => {
    const xs = calls.map(get).filter(isNum);
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
  };
  const sum = (get) => {
    const xs = calls.map(get);
    return xs.length && xs.every(isNum) ? xs.reduce((a, b) => a + b, 0) : null;
  };
  const labels = [...new Set(calls.map((c) => c.label).filter(Boolean))];
  return {
    layer,
    component,
    calls: calls.length,
    timeS: calls.reduce((a, c) => a + (c.end_ns - c.start_ns), 0) / 1e9,
    energyJ: sum((c) => c.energy_j),
    uncertaintyJ: sum((c) => c.uncertainty_j),
    energyLabel: labels.join(', ') || 'unavailable',
    stats: {
      mean: avg((c) => c.stats?.mean),
      std: avg((c) => c.stats?.std),
      max_abs: avg((c) => c.stats?.max_abs),
      sparsity: avg((c) => c.stats?.sparsity),
    },
    deep: {
      attention_entropy: avg((c) => c.deep?.attention_entropy),
      attention_sparsity: avg((c) => c.deep?.attention_sparsity),
      softmax_ms: avg((c) => (isNum(c.deep?.softmax_ns) ? c.deep.softmax_ns / 1e6 : null)),
      mlp_kill_ratio: avg((c) => c.deep?.mlp_kill_ratio),
      norm_variance_ratio: avg((c) => c.deep?.norm_variance_ratio),
      router_entropy: avg((c) => c.deep?.router_entropy),
      router_load_balance: avg((c) => c.deep?.router_load_balance),
    },
    hasDeep: calls.some((c) => c.deep),
  };
}

// ---------- mixture of experts ----------

export const EXPERT_METRICS = [
  { key: 'energy', name: 'Energy', unit: 'J' },
  { key: 'time', name: 'Time', unit: 's' },
  { key: 'share', name: 'Routing share', unit: '%' },
];

// isMoE says whether a run traced mixture-of-experts layers.
export function isMoE(record) {
  return (record?.routing?.length ?? 0) > 0 || (record?.components ?? []).some((c) => expertOf(c.component) != null);
}

// expertMatrix aggregates a mixture-of-experts run into a layers × experts
// matrix of one metric, for the whole run or one token (tokenIndex):
// energy and time of the expert calls ("experts.N" components), or the
// routing share, the fraction of the layer's top-k choices that went to the
// expert (from the router decisions in record.routing). Cells without data,
// or with unavailable energy, are null; an expert nobody chose has time 0
// and share 0 (it did not run) but unknown energy only if it ran unmeasured.
export function expertMatrix(record, metric, tokenIndex = null) {
  const comps = record?.components ?? [];
  const routes = record?.routing ?? [];
  let nExperts = record?.run?.architecture?.experts ?? 0;
  const moeLayers = new Set();
  for (const c of comps) {
    const e = expertOf(c.component);
    if (e != null) {
      nExperts = Math.max(nExperts, e + 1);
      moeLayers.add(c.layer);
    }
    if (c.component === 'router') moeLayers.add(c.layer);
  }
  for (const r of routes) {
    moeLayers.add(r.layer);
    for (const e of r.experts) nExperts = Math.max(nExperts, e + 1);
  }
  const layers = [...moeLayers].sort((a, b) => a - b);
  const experts = Array.from({ length: nExperts }, (_, i) => i);
  const row = new Map(layers.map((l, i) => [l, i]));
  const zeros = () => layers.map(() => experts.map(() => 0));
  const sum = zeros();
  const missing = zeros(); // calls without energy
  const labels = new Set();
  if (metric === 'share') {
    const total = layers.map(() => 0);
    for (const r of routes) {
      if (tokenIndex != null && r.token_index !== tokenIndex) continue;
      const i = row.get(r.layer);
      for (const e of r.experts) sum[i][e]++;
      total[i] += r.experts.length;
    }
    const values = sum.map((xs, i) => xs.map((v) => (total[i] > 0 ? (100 * v) / total[i] : null)));
    return { layers, components: experts.map((e) => `expert ${e}`), experts, values, label: 'measured routing (router decisions)' };
  }
  for (const c of comps) {
    const e = expertOf(c.component);
    if (e == null || (tokenIndex != null && c.token_index !== tokenIndex)) continue;
    const i = row.get(c.layer);
    if (metric === 'time') sum[i][e] += (c.end_ns - c.start_ns) / 1e9;
    else if (isNum(c.energy_j)) {
      sum[i][e] += c.energy_j;
      if (c.label) labels.add(c.label);
    } else missing[i][e]++;
  }
  const values = sum.map((xs, i) => xs.map((v, e) => (missing[i][e] > 0 ? null : v)));
  const label = metric === 'time' ? 'measured clock' : ([...labels].sort((x, y) => basisRank(y) - basisRank(x))[0] ?? 'unavailable');
  return { layers, components: experts.map((e) => `expert ${e}`), experts, values, label };
}

// loadSpread says, per MoE layer, how evenly the router spread its choices
// over the experts (for the whole run or one token): the busiest expert's
// share against the even share (max/mean, 1 = perfectly even) and the
// normalised entropy of the shares (1 = even, 0 = one expert takes all).
export function loadSpread(record, tokenIndex = null) {
  const m = expertMatrix(record, 'share', tokenIndex);
  return m.layers.map((layer, i) => {
    const shares = m.values[i];
    if (shares.some((v) => v == null) || shares.length === 0) return { layer, maxOverMean: null, evenness: null, busiest: null };
    const mean = 100 / shares.length;
    let busiest = 0;
    let h = 0;
    shares.forEach((v, e) => {
      if (v > shares[busiest]) busiest = e;
      const p = v / 100;
      if (p > 0) h -= p * Math.log(p);
    });
    return { layer, maxOverMean: shares[busiest] / mean, evenness: shares.length > 1 ? h / Math.log(shares.length) : 1, busiest };
  });
}

// ---------- phases, tokens ----------

export function phaseBars(record) {
  const t0 = Math.min(...(record?.phases ?? []).map((p) => p.start_ns));
  return (record?.phases ?? []).map((p) => ({
    phase: p.phase,
    startS: (p.start_ns - t0) / 1e9,
    durS: (p.end_ns - p.start_ns) / 1e9,
    energyJ: p.energy?.total ? p.energy.total.gross_j : null,
    label: p.energy?.total?.label ?? 'unavailable',
  }));
}

// phaseSections splits one phase into sections: decode into its tokens,
// other phases into embedding / layer N / head, from the component calls.
export function phaseSections(record, phase) {
  if (phase === 'decode') {
    return (record?.tokens ?? [])
      .filter((t) => t.phase === 'decode')
      .map((t) => ({
        name: `token ${t.index}`,
        durS: (t.end_ns - t.start_ns) / 1e9,
        energyJ: t.energy?.total ? t.energy.total.gross_j : null,
        label: t.energy?.total?.label ?? 'unavailable',
      }));
  }
  const groups = new Map();
  for (const c of record?.components ?? []) {
    if (c.phase !== phase) continue;
    const name = c.layer >= 0 ? `layer ${c.layer}` : c.component;
    let g = groups.get(name);
    if (!g) groups.set(name, (g = { name, durS: 0, energyJ: 0, ok: true, label: c.label, first: c.start_ns }));
    g.durS += (c.end_ns - c.start_ns) / 1e9;
    if (isNum(c.energy_j)) g.energyJ += c.energy_j;
    else g.ok = false;
    g.first = Math.min(g.first, c.start_ns);
  }
  return [...groups.values()]
    .sort((a, b) => a.first - b.first)
    .map((g) => ({ name: g.name, durS: g.durS, energyJ: g.ok ? g.energyJ : null, label: g.ok ? g.label : 'unavailable' }));
}

export function tokenRows(record) {
  return (record?.tokens ?? []).map((t) => {
    const durS = (t.end_ns - t.start_ns) / 1e9;
    const e = t.energy?.total ? t.energy.total.gross_j : null;
    return {
      index: t.index,
      piece: t.piece,
      phase: t.phase,
      durationMs: durS * 1000,
      energyJ: e,
      label: t.energy?.total?.label ?? 'unavailable',
      chunk: t.chunk ?? null,
      chunkTokens: t.chunk_tokens ?? null,
      powerW: isNum(e) && durS > 0 ? e / ((t.window_end_ns - t.window_start_ns) / 1e9 || durS) : null,
    };
  });
}

// ---------- treemap ----------

function compValue(c) {
  return isNum(c.energy_j) ? c.energy_j : null;
}

// What sits outside the decoder layers, in the words the treemap uses.
const OUTSIDE_NAMES = { embedding: 'embedding', final_norm: 'final norm', lm_head: 'LM head', sampling: 'sampling' };
export const SAMPLING_LEAF = 'sampling & glue';

// outsideName names the tile of everything outside the layers by what it
// holds: "outside the layers: embedding, final norm, LM head, sampling".
export function outsideName(children) {
  const parts = children.map((c) => OUTSIDE_NAMES[c === SAMPLING_LEAF ? 'sampling' : c] ?? c.replace(/_/g, ' '));
  return `outside the layers: ${parts.join(', ')}`;
}

// treemapHierarchy nests a run as run → phases → layers → components →
// operations, valued by energy (or by time when the run has no energy, and
// the returned `valueKind` says which). Operations are the deep-depth split
// of attention into softmax and the rest; elsewhere a component is a leaf.
// With energy, each phase's tokens' energy outside every traced component
// (sampling and glue, TokenRecord.other_j) joins the tile outside the
// layers, so a phase's tiles add up to its tokens.
export function treemapHierarchy(record) {
  const comps = record?.components ?? [];
  const useEnergy = comps.length > 0 && comps.every((c) => isNum(c.energy_j));
  const val = (c) => (useEnergy ? compValue(c) : (c.end_ns - c.start_ns) / 1e9);
  const root = { name: record?.run?.model_name ?? 'run', children: [] };
  const byPhase = new Map();
  const OUTSIDE = '\u0000outside';
  for (const c of comps) {
    let ph = byPhase.get(c.phase);
    if (!ph) byPhase.set(c.phase, (ph = { name: c.phase, layers: new Map() }));
    const lname = c.layer >= 0 ? `layer ${c.layer}` : OUTSIDE;
    let ly = ph.layers.get(lname);
    if (!ly) ph.layers.set(lname, (ly = { name: lname, layer: c.layer, comps: new Map() }));
    let co = ly.comps.get(c.component);
    if (!co) ly.comps.set(c.component, (co = { name: c.component, value: 0, softmaxFrac: 0, softN: 0, t: 0 }));
    const v = val(c);
    co.value += v;
    const dur = c.end_ns - c.start_ns;
    co.t += dur;
    if (isNum(c.deep?.softmax_ns) && dur > 0) {
      co.softmaxFrac += Math.min(1, c.deep.softmax_ns / dur) * v;
      co.softN++;
    }
  }
  if (useEnergy) {
    for (const t of record?.tokens ?? []) {
      const ph = byPhase.get(t.phase);
      if (!ph || !isNum(t.other_j) || t.other_j <= 0) continue;
      let ly = ph.layers.get(OUTSIDE);
      if (!ly) ph.layers.set(OUTSIDE, (ly = { name: OUTSIDE, layer: -1, comps: new Map() }));
      let co = ly.comps.get(SAMPLING_LEAF);
      if (!co) ly.comps.set(SAMPLING_LEAF, (co = { name: SAMPLING_LEAF, value: 0, softN: 0 }));
      co.value += t.other_j;
    }
  }
  const phaseOrder = (p) => (PHASES.indexOf(p) + 1 || 99);
  for (const ph of [...byPhase.values()].sort((a, b) => phaseOrder(a.name) - phaseOrder(b.name))) {
    const pnode = { name: ph.name, children: [] };
    for (const ly of [...ph.layers.values()].sort((a, b) => a.layer - b.layer)) {
      const lnode = { name: ly.name === OUTSIDE ? outsideName([...ly.comps.keys()]) : ly.name, children: [] };
      // A mixture of experts nests as MLP → router, shared expert, experts → expert N.
      let moe = null;
      let routed = null;
      const moeNode = () => moe ?? (lnode.children.push((moe = { name: 'MLP (mixture of experts)', children: [] })), moe);
      for (const co of ly.comps.values()) {
        const e = expertOf(co.name);
        if (e != null) {
          if (!routed) moeNode().children.push((routed = { name: 'experts', children: [] }));
          routed.children.push({ name: `expert ${e}`, value: co.value });
          continue;
        }
        if (co.name === 'router' || co.name === 'shared_expert') {
          moeNode().children.push({ name: co.name === 'router' ? 'router' : 'shared expert', value: co.value });
          continue;
        }
        if (co.softN > 0 && co.value > 0) {
          const soft = co.softmaxFrac;
          lnode.children.push({
            name: co.name,
            children: [
              { name: 'softmax', value: soft },
              { name: 'scores + weighted sum', value: Math.max(0, co.value - soft) },
            ],
          });
        } else {
          lnode.children.push({ name: co.name, value: co.value });
        }
      }
      pnode.children.push(lnode);
    }
    root.children.push(pnode);
  }
  return { root, valueKind: useEnergy ? 'energy' : 'time' };
}

// ---------- sankey ----------

// sankeyGraph draws energy flowing from the input through each layer into
// its attention, MLP and norm blocks, and out. Only energy is drawn; a run
// without component energy has no graph (null) and the chart says why.
export function sankeyGraph(record) {
  const comps = record?.components ?? [];
  if (comps.length === 0 || !comps.every((c) => isNum(c.energy_j))) return null;
  const layerE = new Map();
  const blockE = new Map(); // "layer|group"
  let embed = 0;
  let head = 0;
  for (const c of comps) {
    if (c.layer < 0) {
      if (c.component === 'embedding') embed += c.energy_j;
      else head += c.energy_j;
      continue;
    }
    layerE.set(c.layer, (layerE.get(c.layer) ?? 0) + c.energy_j);
    const g = componentGroup(c.component);
    const k = c.layer + '|' + g;
    blockE.set(k, (blockE.get(k) ?? 0) + c.energy_j);
  }
  const nodes = [{ id: 'input', name: 'Input (embedding)' }];
  const links = [];
  const layers = [...layerE.keys()].sort((a, b) => a - b);
  for (const l of layers) nodes.push({ id: `layer${l}`, name: `Layer ${l}` });
  const groups = ['attention', 'mlp', 'router', 'shared_expert', 'experts', 'norm', 'other'].filter((g) => layers.some((l) => blockE.has(l + '|' + g)));
  const gname = {
    attention: 'Attention',
    mlp: 'MLP',
    router: 'MLP · router',
    shared_expert: 'MLP · shared expert',
    experts: 'MLP · routed experts',
    norm: 'Norms',
    other: 'Other',
  };
  for (const g of groups) nodes.push({ id: g, name: gname[g] });
  nodes.push({ id: 'output', name: 'Output' });
  const total = [...layerE.values()].reduce((a, b) => a + b, 0);
  // input → layers: each layer's energy, with the embedding's energy spread
  // across the input node's outflow so the input node's size includes it.
  for (const l of layers) links.push({ source: 'input', target: `layer${l}`, value: layerE.get(l) + (total > 0 ? (embed * layerE.get(l)) / total : 0) });
  for (const l of layers) for (const g of groups) {
    const v = blockE.get(l + '|' + g);
    if (v > 0) links.push({ source: `layer${l}`, target: g, value: v });
  }
  for (const g of groups) {
    const v = layers.reduce((a, l) => a + (blockE.get(l + '|' + g) ?? 0), 0);
    if (v > 0) links.push({ source: g, target: 'output', value: v });
  }
  return { nodes, links: links.filter((k) => k.value > 0), embedJ: embed, headJ: head, totalJ: total + embed + head };
}

// ---------- compare ----------

export function comparisonGroups(cmp) {
  const c = cmp?.comparison ?? cmp;
  return { metrics: c?.metrics ?? [], groups: c?.groups ?? [], tests: c?.tests ?? [] };
}

// ---------- conditions ----------

// conditionsSummary writes one recorded thermal/power state for people
// (the backend's thermal.State.Summary).
export function conditionsSummary(st) {
  if (!st) return 'thermal state not reported';
  const parts = [];
  if (st.pressure) parts.push(`thermal state ${st.pressure}`);
  if (isNum(st.hottest_c)) parts.push(`hottest zone ${Math.round(st.hottest_c)} °C`);
  if (isNum(st.cpu_freq_ratio)) parts.push(`CPU at ${Math.round(st.cpu_freq_ratio * 100)}% of max frequency`);
  if (typeof st.on_battery === 'boolean') parts.push(st.on_battery ? 'on battery' : 'on mains');
  return parts.length ? parts.join(' · ') : 'thermal state not readable on this machine';
}

// throttled: the kernel counted thermal throttling between start and end.
export function throttled(c) {
  const a = c?.start?.throttle_events;
  const b = c?.end?.throttle_events;
  return isNum(a) && isNum(b) && b > a;
}
