import { describe, expect, it } from 'vitest';
import { ApiError, getJSON, listRuns } from './api.js';

function fakeFetch(status, body) {
  return async () => ({
    ok: status >= 200 && status < 300,
    status,
    json: async () => {
      if (body === undefined) throw new Error('no body');
      return body;
    },
  });
}

describe('getJSON', () => {
  it('returns the decoded body on success', async () => {
    const got = await getJSON('/api/x', fakeFetch(200, { version: '1' }));
    expect(got.version).toBe('1');
  });
  it('turns an API error body into an ApiError with status and detail', async () => {
    await expect(getJSON('/api/x', fakeFetch(404, { error: 'not found', detail: 'no run abc' }))).rejects.toMatchObject({
      status: 404,
      error: 'not found',
      detail: 'no run abc',
    });
  });
  it('still fails clearly when the error has no JSON body', async () => {
    const err = await getJSON('/api/x', fakeFetch(502)).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.message).toContain('502');
  });
});

describe('listRuns', () => {
  const fetchList = (body, total) => async (url) => ({
    ok: true,
    status: 200,
    url,
    headers: { get: (k) => (k === 'X-Total-Count' && total != null ? String(total) : null) },
    json: async () => body,
  });
  it('reads the list itself and the total from X-Total-Count', async () => {
    const got = await listRuns({ limit: 2 }, fetchList([{ id: 'a' }, { id: 'b' }], 17));
    expect(got.runs.map((r) => r.id)).toEqual(['a', 'b']);
    expect(got.total).toBe(17);
  });
  it('falls back to the list length without the header', async () => {
    const got = await listRuns({}, fetchList([{ id: 'a' }], null));
    expect(got.total).toBe(1);
  });
});
