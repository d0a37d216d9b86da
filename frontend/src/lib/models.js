// The models list: where each model lives (the models folder or another
// tool's store, read in place) and what it is.

// Store labels in the order the list shows them.
const SOURCES = [
  ['models folder', 'Models folder'],
  ['huggingface', 'Hugging Face cache'],
  ['ollama', 'Ollama'],
  ['lmstudio', 'LM Studio'],
];

// groupModels splits the list by source, in the order above (a source the
// page does not know goes last under its own name); empty groups are left out.
export function groupModels(models) {
  const groups = SOURCES.map(([source, label]) => ({ source, label, models: [] }));
  for (const m of models ?? []) {
    const source = m.source ?? 'models folder';
    let g = groups.find((x) => x.source === source);
    if (!g) {
      g = { source, label: source, models: [] };
      groups.push(g);
    }
    g.models.push(m);
  }
  return groups.filter((g) => g.models.length);
}

// fmtBytes writes a file size; null when unknown (never 0).
export function fmtBytes(n) {
  if (!(n > 0)) return null;
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(0)} MB`;
  return `${Math.max(1, Math.round(n / 1e3))} kB`;
}

// usable reports whether a model can be run.
export function usable(m) {
  return Boolean(m) && !m.error && m.complete !== false;
}

// optionText is the model's line in the picker.
export function optionText(m) {
  const extra = [m.quantization, fmtBytes(m.size_bytes)].filter(Boolean).join(' · ');
  let text = m.name + (m.demo ? ' (demo)' : '');
  if (extra) text += ` — ${extra}`;
  if (m.error) text += ' (unusable)';
  else if (m.complete === false) text += ' (incomplete)';
  return text;
}

// storeText says where the model is read from and what it is.
export function storeText(m) {
  if (!m) return '';
  const label = SOURCES.find(([s]) => s === m.source)?.[1] ?? m.source ?? 'models folder';
  const parts = [`from ${label}`, m.format, m.quantization, fmtBytes(m.size_bytes)].filter(Boolean);
  let text = parts.join(' · ');
  if (m.complete === false) text += ` · incomplete: ${m.note ?? 'the download did not finish'}`;
  return text;
}
