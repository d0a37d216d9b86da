import { describe, expect, it } from 'vitest';
import { runKind, serverRows, serverTimings, tokenCount, unavailableReason } from './external.js';

describe('external runs', () => {
  it('reads a kind from a record, a summary or a list row, engine by default', () => {
    expect(runKind({ summary: { kind: 'server' }, run: {} })).toBe('server');
    expect(runKind({ run: { kind: 'window' } })).toBe('window');
    expect(runKind({ kind: 'window' })).toBe('window');
    expect(runKind({ run: {} })).toBe('engine');
  });
  it('says why layers are empty, and only for other kinds', () => {
    expect(unavailableReason('server')).toMatch(/unavailable \(external server\)/);
    expect(unavailableReason('window')).toMatch(/unavailable \(energy window\)/);
    expect(unavailableReason('engine')).toBe('');
  });
  it('never shows an unmeasured count as a number', () => {
    expect(tokenCount(0, 'unavailable (the server did not report it)')).toBeNull();
    expect(tokenCount(12, 'reported by the server (usage.prompt_tokens)')).toBe(12);
    expect(tokenCount(7, undefined)).toBe(7);
  });
  it('describes the server and its timings with units', () => {
    const x = {
      endpoint: 'http://127.0.0.1:11434', route: '/api/generate', api: 'ollama', server_model: 'llama3.2:1b', chunks: 5, split_chunks: 1,
      input_tokens_source: 'reported by the server (ollama prompt_eval_count)', output_tokens_source: 'reported by the server (ollama eval_count)',
      request: { max_tokens: 8, chat: false, stream: true }, server_timings: { 'ollama eval_duration_ns': 3e8, 'llama.cpp prompt_ms': 12.5, 'llama.cpp predicted_n': 4 },
    };
    const rows = Object.fromEntries(serverRows(x));
    expect(rows.Endpoint).toBe('http://127.0.0.1:11434/api/generate');
    expect(rows['Streamed chunks with text']).toBe('5, 1 carrying several tokens (interval split evenly)');
    expect(rows.Request).toBe('chat false, max_tokens 8, stream true');
    const t = serverTimings(x);
    expect(t.map((r) => r.name)).toEqual(['llama.cpp predicted_n', 'llama.cpp prompt_ms', 'ollama eval_duration_ns']);
    expect(t[2].ms).toBe(300);
    expect(t[1].ms).toBe(12.5);
    expect(t[0].ms).toBeNull();
  });
});
