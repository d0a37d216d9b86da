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

// SI-scaled units: a value of 0.0012 J reads "1.20 mJ".
const SCALED = new Set(['J', 'W', 'g', 's']);

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
  if (SCALED.has(unit) && v !== 0) {
    const a = Math.abs(v);
    for (const [f, p] of PREFIXES) {
      if (a >= f || f === 1e-9) {
        return `${fmtNumber(v / f, digits)} ${p}${unit}`;
      }
    }
  }
  if (unit === 'USD') return isNum(v) ? `$${v < 0.01 ? v.toExponential(2) : v.toFixed(2)}` : 'unavailable';
  return unit ? `${fmtNumber(v, digits)} ${unit}` : fmtNumber(v, digits);
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
