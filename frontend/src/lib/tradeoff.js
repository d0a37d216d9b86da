// The throughput vs energy trade-off over the history: each run is a point
// (tokens per second, tokens per joule); the Pareto frontier holds the runs
// no other run beats on both; iso-lines of the energy-delay product per
// token (J/token × s/token = 1 / (tok/s × tok/J)) are straight lines of
// slope −1 on log–log axes. Pure functions, unit-tested.
import { isNum } from './format.js';

// tradeoffPoints keeps the runs that have both numbers.
export function tradeoffPoints(runs) {
  const out = [];
  for (const r of runs ?? []) {
    const tps = r.tokens_per_second;
    const tpj = isNum(r.tokens_per_joule) ? r.tokens_per_joule : isNum(r.joules_per_token) && r.joules_per_token > 0 ? 1 / r.joules_per_token : null;
    if (!isNum(tps) || !isNum(tpj) || tps <= 0 || tpj <= 0) continue;
    out.push({
      id: r.id,
      model: r.model_name,
      backend: r.backend || 'unknown backend',
      dtype: r.dtype || 'unknown dtype',
      depth: r.depth || '',
      tps,
      tpj,
      edp: 1 / (tps * tpj),
      label: r.energy_label ?? '',
      created: r.created_at_utc ?? r.created_at,
      prompt: r.prompt ?? '',
    });
  }
  return out;
}

// dominates: a is at least as fast and as frugal as b, and better in one.
export function dominates(a, b) {
  return a.tps >= b.tps && a.tpj >= b.tpj && (a.tps > b.tps || a.tpj > b.tpj);
}

// paretoFrontier returns the points no other point dominates, by tokens
// per second ascending (so tokens per joule descending). Sweeping from the
// fastest run, a point is on the frontier when it is more frugal than every
// faster one.
export function paretoFrontier(points) {
  const sorted = [...(points ?? [])].sort((a, b) => b.tps - a.tps || b.tpj - a.tpj);
  const out = [];
  let best = -Infinity;
  let lastTps = null;
  for (const p of sorted) {
    if (p.tpj > best) {
      out.push(p);
      best = p.tpj;
      lastTps = p.tps;
    } else if (p.tpj === best && p.tps === lastTps) {
      out.push(p); // an exact tie is not dominated either
    }
  }
  return out.reverse();
}

// edpLevels picks iso-line levels of EDP per token on a 1-2-5 ladder, at
// most max of them, spanning the points' EDP (one step beyond each end).
export function edpLevels(points, max = 6) {
  const es = (points ?? []).map((p) => p.edp).filter((e) => isNum(e) && e > 0);
  if (es.length === 0) return [];
  const lo = Math.min(...es);
  const hi = Math.max(...es);
  const ladder = [];
  for (let k = Math.floor(Math.log10(lo)) - 1; k <= Math.ceil(Math.log10(hi)) + 1; k++) {
    for (const m of [1, 2, 5]) ladder.push(m * 10 ** k);
  }
  let inRange = ladder.filter((e) => e >= lo / 2.5 && e <= hi * 2.5);
  while (inRange.length > max) inRange = inRange.filter((_, i) => i % 2 === 0);
  return inRange;
}

// isoLine samples the curve tok/J = 1 / (edp × tok/s) across [x0, x1]
// (tokens per second), evenly in log space.
export function isoLine(edp, x0, x1, n = 40) {
  const out = [];
  const a = Math.log(x0);
  const b = Math.log(x1);
  for (let i = 0; i <= n; i++) {
    const tps = Math.exp(a + ((b - a) * i) / n);
    out.push({ tps, tpj: 1 / (edp * tps) });
  }
  return out;
}

// groupKeys lists the distinct values of key (model, backend, dtype) in
// first-seen order, for colour and shape legends.
export function groupKeys(points, key) {
  return [...new Set((points ?? []).map((p) => p[key]))];
}
