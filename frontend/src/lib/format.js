// Formatting of numbers with their provenance. A number the profiler did not
// measure is null in the API and is shown as "unavailable", never as 0.

export function isNum(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

const PREFIXES = [
  [1e3, 'k'],
  [1, ''],
  [1e-3, 'm'],
  [1e-6, 'µ'],
  [1e-9, 'n'],
];

// SI-scaled units: a value of 0.0012 J reads "1.20 mJ". A unit built on
// one of them (J/token, J/Mparam, J·s) takes the prefix on that quantity:
// 0.00094 J/token reads "940 µJ/token", not "9.4e-4 J/token".
const SCALED = new Set(['J', 'W', 'g', 's']);
function scaledParts(unit) {
  const m = /^(J|W|g|s)(?=$|[/·])/.exec(unit);
  return m && SCALED.has(m[1]) ? [m[1], unit.slice(m[1].length)] : null;
}

export function fmtNumber(v, digits = 3) {
  if (!isNum(v)) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(digits - 1);
  if (a >= 100) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(digits)).toString();
}

// fmtValue renders a value with its unit, scaling J, W, g and s by SI prefix.
export function fmtValue(v, unit = '', digits = 3) {
  if (!isNum(v)) return 'unavailable';
  if (unit === 's' && Math.abs(v) >= 60) {
    const m = Math.floor(v / 60);
    return `${m} min ${Math.round(v - m * 60)} s`;
  }
  if (unit === 'USD') return fmtUSD(v);
  if (unit === 'USD/Mtoken') return `${fmtUSD(v)} per M tokens`;
  if (unit === 'g/Mtoken') return `${fmtCO2(v)} per M tokens`;
  const scaled = scaledParts(unit);
  if (scaled && v !== 0) {
    const [base, rest] = scaled;
    const a = Math.abs(v);
    for (const [f, p] of PREFIXES) {
      if (a >= f || f === 1e-9) {
        return `${fmtNumber(v / f, digits)} ${p}${base}${rest}`;
      }
    }
  }
  return unit ? `${fmtNumber(v, digits)} ${unit}` : fmtNumber(v, digits);
}

// trimmed writes v with n significant digits and no trailing zeros past
// keep decimals.
function trimmed(v, n, keep = 0) {
  const a = Math.abs(v);
  const decimals = a > 0 ? Math.max(keep, n - 1 - Math.floor(Math.log10(a))) : keep;
  let s = v.toFixed(Math.min(20, decimals));
  if (s.includes('.')) {
    const dot = s.indexOf('.');
    let end = s.length;
    while (end > dot + 1 + keep && s[end - 1] === '0') end--;
    if (end === dot + 1) end = dot;
    s = s.slice(0, end);
  }
  return s;
}

// fmtUSD writes money as people do: "$1.45", "$0.0172", and below a cent
// in cents, "0.35 ¢", "0.0086 ¢" (an API price per million tokens of a
// small model is that small). Only amounts below a millionth of a cent
// fall back to scientific notation (fmtCostPerRun avoids them).
export function fmtUSD(v) {
  if (!isNum(v)) return 'unavailable';
  const a = Math.abs(v);
  if (a >= 0.01 || a === 0) return `$${a >= 1000 ? Math.round(v).toLocaleString('en-US') : trimmed(v, 3, 2)}`;
  if (a >= 1e-8) return `${trimmed(v * 100, 2)} ¢`;
  return `$${v.toExponential(1)}`;
}

// fmtCostPerRun writes one run's cost; a run too cheap to read in cents is
// given per million runs, the scale at which it adds up (like API prices
// per million tokens).
export function fmtCostPerRun(v) {
  if (!isNum(v)) return 'unavailable';
  if (Math.abs(v) >= 1e-4 || v === 0) return `${fmtUSD(v)} per run`;
  return `${fmtUSD(v * 1e6)} per million runs`;
}

// fmtCO2 writes a mass of CO₂ in µg, mg, g, kg or t.
export function fmtCO2(g) {
  if (!isNum(g)) return 'unavailable';
  const a = Math.abs(g);
  for (const [f, u] of [[1e6, 't'], [1e3, 'kg'], [1, 'g'], [1e-3, 'mg'], [1e-6, 'µg']]) {
    if (a >= f) return `${trimmed(g / f, 3)} ${u}`;
  }
  return a === 0 ? '0 g' : `${g.toExponential(1)} g`;
}

// The uncertainty bound shown beside an energy: only where it informs. A
// measured window (at least two power-sample intervals long) shows its
// bound; an apportioned one (a time share of samples that also cover other
// work) shows it only when it is tight, within TIGHT_BOUND of the value —
// otherwise the worst case of sharing a whole sample says nothing about a
// 23 µJ component call, and is left out. Returns the ± or null.
export const TIGHT_BOUND = 0.2;
export function informativeBound(value, uncertainty, label) {
  if (!isNum(value) || !isNum(uncertainty) || uncertainty < 0) return null;
  if (basisOf(label) === 'measured') return uncertainty;
  if (basisOf(label) === 'apportioned' && value !== 0 && uncertainty <= TIGHT_BOUND * Math.abs(value)) return uncertainty;
  return null;
}

// basisText writes a provenance label for people: "apportioned rapl"
// becomes "apportioned by time share · rapl".
export function basisText(label) {
  if (!label) return 'unavailable';
  const [first, ...rest] = String(label).split(/\s+/);
  if (first === 'apportioned') return ['apportioned by time share', rest.join(' ')].filter(Boolean).join(' · ');
  return label;
}

// basisOf extracts the basis word from a label such as "apportioned rapl".
export function basisOf(label) {
  if (!label) return 'unavailable';
  const first = String(label).split(/\s+/)[0];
  if (['measured', 'apportioned', 'estimated', 'unavailable'].includes(first)) return first;
  return 'measured';
}

// fmtMetric turns a profiler Metric {value, unit, label} into display parts.
export function fmtMetric(m) {
  if (!m || !isNum(m.value)) {
    return { text: 'unavailable', label: m?.label && m.label !== 'unavailable' ? m.label : 'unavailable', basis: 'unavailable', available: false };
  }
  return { text: fmtValue(m.value, m.unit), label: m.label || 'unlabelled', basis: basisOf(m.label), available: true };
}

export function fmtDuration(s) {
  return fmtValue(s, 's');
}

export function fmtDate(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function truncate(s, n = 60) {
  if (!s) return '';
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

// Human names for the profiler's metrics.
export const METRIC_NAMES = {
  joules_per_output_token: 'J per output token',
  joules_per_input_token: 'J per input token',
  joules_per_token: 'J per token (whole run)',
  net_joules_per_output_token: 'Net J per output token',
  decode_tokens_per_second: 'Decode tokens/s',
  prefill_tokens_per_second: 'Prefill tokens/s',
  total_energy_j: 'Total energy',
  tokens_per_joule: 'Tokens per joule',
  energy_per_million_params_j: 'Energy per M params',
  energy_per_active_million_params_j: 'Energy per active M params',
  energy_delay_product_js: 'Energy-delay product',
  duration_s: 'Duration',
};

// A net energy (gross minus idle power × time) that is at most 0, or whose
// run's net energy lies within its noise bound (summary.net_within_noise),
// is not a finding: it reads APPROX_ZERO with WITHIN_NOISE_WHY, never as a
// negative or tiny number.
export const APPROX_ZERO = '≈0 (within idle noise)';
export const WITHIN_NOISE_WHY =
  'Net energy is gross energy minus idle power × time. Here it is no larger than its error bound (the measurement uncertainty plus how much the idle power wanders): the run did not draw measurably more than the machine at rest.';
export function netNegligible(summary, value) {
  if (!isNum(value)) return false;
  return value <= 0 || summary?.net_within_noise === true;
}
