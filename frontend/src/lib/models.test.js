import { describe, expect, it } from 'vitest';
import { fmtBytes, groupModels, optionText, storeText, usable } from './models.js';

const list = [
  { name: 'ollama:llama3.2:1b', source: 'ollama', format: 'gguf', quantization: 'Q4_K_M', size_bytes: 807_694_464, complete: true },
  { name: 'demo-110m-gqa', source: 'models folder', format: 'safetensors', quantization: 'BF16', size_bytes: 221_000_000, complete: true, demo: true },
  { name: 'hf:meta-llama/Llama-3.2-1B-Instruct', source: 'huggingface', format: 'safetensors', quantization: null, size_bytes: null, complete: false, note: 'missing model.safetensors' },
  { name: 'x', source: 'somewhere-new', complete: true },
];

describe('models list', () => {
  it('groups by store in a fixed order', () => {
    const g = groupModels(list);
    expect(g.map((x) => x.label)).toEqual(['Models folder', 'Hugging Face cache', 'Ollama', 'somewhere-new']);
    expect(g[2].models[0].name).toBe('ollama:llama3.2:1b');
  });
  it('treats a model without a source as the models folder (older servers)', () => {
    expect(groupModels([{ name: 'a' }])[0].label).toBe('Models folder');
  });
  it('writes sizes, never 0 for unknown', () => {
    expect(fmtBytes(807_694_464)).toBe('808 MB');
    expect(fmtBytes(4_920_000_000)).toBe('4.9 GB');
    expect(fmtBytes(0)).toBeNull();
    expect(fmtBytes(null)).toBeNull();
  });
  it('describes a model and its state', () => {
    expect(optionText(list[0])).toBe('ollama:llama3.2:1b — Q4_K_M · 808 MB');
    expect(optionText(list[2])).toBe('hf:meta-llama/Llama-3.2-1B-Instruct (incomplete)');
    expect(storeText(list[0])).toBe('from Ollama · gguf · Q4_K_M · 808 MB');
    expect(storeText(list[2])).toBe('from Hugging Face cache · safetensors · incomplete: missing model.safetensors');
    expect(usable(list[0])).toBe(true);
    expect(usable(list[2])).toBe(false);
    expect(usable({ name: 'e', error: 'bad' })).toBe(false);
  });
});
