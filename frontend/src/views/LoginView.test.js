import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render, screen, fireEvent, waitFor } from '@testing-library/svelte';
import LoginView from './LoginView.svelte';

afterEach(cleanup);

function jsonResponse(status, body) {
  return { ok: status < 300, status, json: async () => body };
}

describe('LoginView', () => {
  it('sends the token to /api/login and reports success', async () => {
    const fetchImpl = vi.fn(async () => jsonResponse(200, { required: true, authenticated: true }));
    const onLogin = vi.fn();
    render(LoginView, { onLogin, fetchImpl });
    await fireEvent.input(screen.getByLabelText('Token'), { target: { value: '  s3cret-token  ' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    await waitFor(() => expect(onLogin).toHaveBeenCalledOnce());
    const [path, init] = fetchImpl.mock.calls[0];
    expect(path).toBe('/api/login');
    expect(init.method).toBe('POST');
    expect(JSON.parse(init.body)).toEqual({ token: 's3cret-token' });
    // The form forgets the token once it has been exchanged.
    expect(screen.getByLabelText('Token').value).toBe('');
  });

  it('says so when the token is wrong, and does not log in', async () => {
    const fetchImpl = vi.fn(async () => jsonResponse(401, { error: 'wrong token', detail: 'no match' }));
    const onLogin = vi.fn();
    render(LoginView, { onLogin, fetchImpl });
    await fireEvent.input(screen.getByLabelText('Token'), { target: { value: 'nope' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect(await screen.findByRole('alert')).toHaveProperty('textContent', 'That token does not match this server’s.');
    expect(onLogin).not.toHaveBeenCalled();
  });

  it('asks for a token before sending anything', async () => {
    const fetchImpl = vi.fn();
    render(LoginView, { fetchImpl });
    await fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect(await screen.findByRole('alert')).toHaveProperty('textContent', 'Enter the token.');
    expect(fetchImpl).not.toHaveBeenCalled();
  });
});
