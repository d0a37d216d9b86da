// Electricity price and grid carbon intensity: the regional presets (the
// backend's profiler.CO2Preset), and the user's own choice, remembered in
// the browser so that Live uses it for new runs and Analysis can apply it
// to old ones.
export const CO2_PRESETS = [
  { key: 'us', name: 'US average', g: 400 },
  { key: 'california', name: 'California', g: 200 },
  { key: 'texas', name: 'Texas', g: 500 },
  { key: 'eu', name: 'EU average', g: 300 },
];
export const DEFAULT_PRICE = 0.12;

// gramsPerKWh resolves a preset key (or "custom" with its value).
export function gramsPerKWh(preset, custom) {
  const p = CO2_PRESETS.find((x) => x.key === preset);
  return p ? p.g : Number(custom);
}

export function presetName(preset) {
  return CO2_PRESETS.find((x) => x.key === preset)?.name ?? 'custom';
}

const KEY = 'energyprofiler.cost';

// loadCostSettings returns {price, preset, customG}, the defaults when none
// were saved or storage is unavailable.
export function loadCostSettings(storage = globalThis.localStorage) {
  const def = { price: DEFAULT_PRICE, preset: 'us', customG: 400 };
  try {
    const v = JSON.parse(storage?.getItem(KEY) ?? 'null');
    if (v && Number(v.price) > 0 && (CO2_PRESETS.some((p) => p.key === v.preset) || (v.preset === 'custom' && Number(v.customG) > 0))) {
      return { price: Number(v.price), preset: v.preset, customG: Number(v.customG) || def.customG };
    }
  } catch {
    // fall through to the defaults
  }
  return def;
}

export function saveCostSettings(s, storage = globalThis.localStorage) {
  try {
    storage?.setItem(KEY, JSON.stringify({ price: s.price, preset: s.preset, customG: s.customG }));
  } catch {
    // private mode: the choice lasts for this page only
  }
}

// costFigures recomputes a run's cost and CO₂, per run and per million
// output tokens, from its gross energy (J) at a price (USD/kWh) and a grid
// intensity (g/kWh). Missing energy or tokens give nulls, never 0.
export function costFigures(energyJ, outputTokens, price, gPerKWh) {
  const ok = typeof energyJ === 'number' && Number.isFinite(energyJ);
  const kwh = ok ? energyJ / 3.6e6 : null;
  const perM = ok && outputTokens > 0 ? 1e6 / outputTokens : null;
  return {
    costUSD: ok ? kwh * price : null,
    costPerMTokens: perM != null ? kwh * price * perM : null,
    co2G: ok ? kwh * gPerKWh : null,
    co2PerMTokens: perM != null ? kwh * gPerKWh * perM : null,
  };
}
