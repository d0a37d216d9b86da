import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/svelte';
import ServerPanel from './ServerPanel.svelte';
import UnavailableNote from './UnavailableNote.svelte';
import SummaryCards from './SummaryCards.svelte';

afterEach(cleanup);

const external = {
  endpoint: 'http://192.0.2.4:11434', route: '/api/chat', api: 'ollama', server_model: 'llama3.2:1b', chunks: 9, split_chunks: 2,
  input_tokens_source: 'unavailable (the server did not report it)', output_tokens_source: 'counted (one token per streamed chunk)',
  remote: true, power_note: 'the server runs on another machine (192.0.2.4:11434): the energy is this machine\u2019s',
  server_timings: { 'ollama eval_duration_ns': 2.5e9 }, notes: ['the stream ended without [DONE]'], request: { chat: true },
};

describe('server runs and windows in the analysis', () => {
  it('shows the server, the remote energy warning, its timings and notes', () => {
    render(ServerPanel, { run: { kind: 'server', external } });
    const panel = screen.getByRole('region', { name: 'inference server' });
    expect(panel.textContent).toContain('http://192.0.2.4:11434/api/chat');
    expect(panel.textContent).toContain('9, 2 carrying several tokens (interval split evenly)');
    expect(panel.textContent).toMatch(/Energy: the server runs on another machine/);
    expect(panel.textContent).toMatch(/ollama eval_duration_ns\s*2\.5\d* s/);
    expect(panel.textContent).toContain('Note: the stream ended without [DONE]');
  });
  it('shows a window with its note', () => {
    render(ServerPanel, { run: { kind: 'window', note: 'epoch 3', prompt: 'python3 train.py' } });
    expect(screen.getByRole('region', { name: 'energy window' }).textContent).toContain('python3 train.py');
  });
  it('says why the layer charts are missing, and nothing for engine runs', () => {
    render(UnavailableNote, { kind: 'server' });
    expect(screen.getByRole('note').textContent).toMatch(/unavailable \(external server\)/);
    cleanup();
    const { container } = render(UnavailableNote, { kind: 'engine' });
    expect(container.textContent.trim()).toBe('');
  });
  it('never shows an unreported token count as 0', () => {
    const m = { value: null, unit: 'J', label: 'unavailable' };
    const summary = new Proxy({ input_tokens: 0, output_tokens: 9, input_tokens_source: external.input_tokens_source, output_tokens_source: external.output_tokens_source, co2_preset: 'us', co2_g_per_kwh: 400, price_usd_per_kwh: 0.12, sources: [] },
      { get: (t, k) => (k in t ? t[k] : m) });
    const { container } = render(SummaryCards, { summary });
    expect(container.textContent).toMatch(/Tokens: unavailable in, 9 out/);
  });
});
