// All data comes from the local API over relative URLs, so the same code works
// in a browser against `energyprofiler serve` and inside the desktop window.

export class ApiError extends Error {
  constructor(status, error, detail) {
    super(detail ? `${error}: ${detail}` : error);
    this.status = status;
    this.error = error;
    this.detail = detail;
  }
}

export async function getJSON(path, fetchImpl = fetch) {
  const res = await fetchImpl(path, { headers: { Accept: 'application/json' } });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    throw new ApiError(res.status, body?.error ?? `HTTP ${res.status}`, body?.detail ?? '');
  }
  return body;
}

export function health(fetchImpl) {
  return getJSON('/api/health', fetchImpl);
}
