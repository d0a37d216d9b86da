"""Energy Profiler's Python client: measure the energy of any code.

One file, Python's standard library only: copy it next to your script.
It talks to a running ``energyprofiler serve`` (the URL comes from
``ENERGYPROFILER_URL``, default http://127.0.0.1:8000; the token of a server
started with ``--allow-remote`` from ``ENERGYPROFILER_TOKEN``).

Energy windows measure whatever the machine does while they are open::

    import energyprofiler

    with energyprofiler.window("fine-tune epoch 3", tags=["train"]) as w:
        n = train_one_epoch()
        w.tokens_out = n            # optional: gives J per token
    print(w.summary["total_energy_j"]["value"], "J")

    @energyprofiler.measured("evaluate", tags=["eval"])
    def evaluate():
        ...

A request to an inference server (ollama, llama.cpp, vLLM, or the
profiler's own /v1), profiled and stored like the profiler's own runs::

    s = energyprofiler.profile_endpoint("http://127.0.0.1:11434", "llama3.2:1b",
                                        "Why is the sky blue?", max_tokens=64)
    print(s["joules_per_output_token"]["value"], "J per output token")

Every window and run is stored: find it in the dashboard's History, or
with ``energyprofiler runs --kind window``. A block that raises stores its
window as failed with the exception, and the exception goes on.
"""

import contextlib
import json
import os
import urllib.error
import urllib.request

__all__ = ["Client", "EnergyProfilerError", "Window", "window", "measured", "profile_endpoint", "default_client"]

DEFAULT_URL = "http://127.0.0.1:8000"


class EnergyProfilerError(Exception):
    """An answer from the server that was not a success, or no answer."""

    def __init__(self, message, status=None, detail=None):
        super().__init__(message)
        self.status = status
        self.detail = detail


class Client:
    """A connection to one Energy Profiler server."""

    def __init__(self, url=None, token=None, timeout=600.0):
        self.url = (url or os.environ.get("ENERGYPROFILER_URL") or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else os.environ.get("ENERGYPROFILER_TOKEN")
        self.timeout = timeout

    def _request(self, method, path, body=None):
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps({k: v for k, v in body.items() if v is not None}).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                raw = res.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                err = json.loads(raw)
            except ValueError:
                err = {}
            msg = err.get("error", "HTTP %d" % e.code)
            detail = err.get("detail")
            if detail:
                msg += ": " + detail
            raise EnergyProfilerError("%s %s: %s" % (method, path, msg), status=e.code, detail=detail) from None
        except (urllib.error.URLError, OSError) as e:
            raise EnergyProfilerError(
                "cannot reach Energy Profiler at %s (%s); start it with 'energyprofiler serve' or set ENERGYPROFILER_URL"
                % (self.url, getattr(e, "reason", e))
            ) from None
        return json.loads(raw) if raw else None

    # Windows.

    def open_window(self, name, tags=None, note=None, idle_s=None, timeout_s=None):
        """Open a window (after its idle baseline, 1 s unless idle_s says
        otherwise; 0 skips it). Returns {"window_id", "run_id", ...}."""
        return self._request("POST", "/api/profiling/windows",
                             {"name": name, "tags": list(tags or []), "note": note, "idle_s": idle_s, "timeout_s": timeout_s})

    def stop_window(self, window_id, tokens_in=None, tokens_out=None, tags=None, note=None, error=None):
        """Stop a window; returns its run's summary."""
        return self._request("POST", "/api/profiling/windows/%s/stop" % window_id,
                             {"tokens_in": tokens_in, "tokens_out": tokens_out, "tags": list(tags or []) or None,
                              "note": note, "error": error})

    def window(self, name, tokens_in=None, tokens_out=None, tags=None, note=None, idle_s=None, timeout_s=None):
        """A Window on this server: a context manager and a decorator."""
        return Window(self, name, tokens_in=tokens_in, tokens_out=tokens_out, tags=tags, note=note,
                      idle_s=idle_s, timeout_s=timeout_s)

    def measured(self, name=None, **kwargs):
        """Decorate a function so that every call is measured as a window."""
        def wrap(fn):
            return self.window(name or fn.__name__, **kwargs)(fn)
        return wrap

    # Runs.

    def profile_endpoint(self, endpoint, model, prompt, max_tokens=64, api=None, chat=False, tags=None,
                         power=None, idle_s=None, temperature=None, seed=None):
        """Profile one request to an inference server (a URL or a saved
        endpoint's name) and return the stored run's summary. A server on
        another machine needs power given explicitly (this machine's
        energy is then recorded, and labelled so)."""
        return self._request("POST", "/api/profiling/generate", {
            "model_name": model, "endpoint": endpoint, "api": api, "chat": bool(chat), "prompt": prompt,
            "max_length": max_tokens, "tags": list(tags or []), "power": power, "idle_s": idle_s,
            "temperature": temperature, "seed": seed, "wait": True})

    def run(self, run_id):
        """The full stored record of a run or window."""
        return self._request("GET", "/api/profiling/run/%s" % run_id)


class Window(contextlib.ContextDecorator):
    """An energy window: ``with client.window(...) as w:`` or as a decorator.

    Set ``w.tokens_in`` / ``w.tokens_out`` inside the block when the counts
    are known only then. After the block, ``w.summary`` is the stored run's
    summary and ``w.id`` its run id.
    """

    def __init__(self, client, name, tokens_in=None, tokens_out=None, tags=None, note=None, idle_s=None, timeout_s=None):
        self.client = client
        self.name = name
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out
        self.tags = list(tags or [])
        self.note = note
        self.idle_s = idle_s
        self.timeout_s = timeout_s
        self.id = None
        self.summary = None

    def _recreate_cm(self):
        # As a decorator every call gets a window of its own.
        return Window(self.client, self.name, self.tokens_in, self.tokens_out, self.tags, self.note, self.idle_s, self.timeout_s)

    def __enter__(self):
        opened = self.client.open_window(self.name, tags=self.tags, note=self.note, idle_s=self.idle_s, timeout_s=self.timeout_s)
        self.id = opened["window_id"]
        return self

    def __exit__(self, exc_type, exc, tb):
        error = None
        if exc_type is not None:
            error = "%s: %s" % (exc_type.__name__, exc)
        self.summary = self.client.stop_window(self.id, tokens_in=self.tokens_in, tokens_out=self.tokens_out, error=error)
        return False  # an exception goes on


_default = None


def default_client():
    """The client the module-level functions use (ENERGYPROFILER_URL)."""
    global _default
    if _default is None:
        _default = Client()
    return _default


def window(name, **kwargs):
    """``with energyprofiler.window("epoch 3", tokens_out=n): ...``"""
    return default_client().window(name, **kwargs)


def measured(name=None, **kwargs):
    """``@energyprofiler.measured("evaluate")``: every call is a window."""
    return default_client().measured(name, **kwargs)


def profile_endpoint(endpoint, model, prompt, **kwargs):
    """Profile one request to an inference server; returns the summary."""
    return default_client().profile_endpoint(endpoint, model, prompt, **kwargs)
