package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"energyprofiler/backend/api"
	"energyprofiler/backend/external"
	"energyprofiler/backend/session"
)

// probeTimeout bounds how long the models list waits for each endpoint.
const probeTimeout = 1500 * time.Millisecond

// ServerTarget is a resolved server run: which endpoint, which model.
type ServerTarget struct {
	Endpoint external.Endpoint
	Model    string
	Chat     bool
	Remote   bool
}

// servers adapts the external package to the API: saved endpoints from
// path, plus an ollama on its default port.
type servers struct {
	path      string
	powerSpec string
	http      *http.Client
	// selfPort is this server's port: a request to our own /v1 would wait
	// in our own queue behind the run that sent it.
	selfPort string
	// onDisk reports whether a name is a model of a store on this machine
	// (ollama:NAME:TAG read from ollama's folder): such a name is our
	// engine's, even when an endpoint is called "ollama" too.
	onDisk func(name string) bool
}

func (a servers) config() (external.Config, error) {
	return external.Load(a.path)
}

// endpoint finds a saved endpoint by name, or the default ollama.
func (a servers) endpoint(cfg external.Config, name string) (external.Endpoint, bool) {
	if e, ok := cfg.Find(name); ok {
		return e, true
	}
	if name == "ollama" {
		return external.DefaultOllama(), true
	}
	return external.Endpoint{}, false
}

// ServerPrefix marks a server model in the models list whose plain
// ENDPOINT:MODEL name is also a model file on this machine: ollama's
// default endpoint is called "ollama", so ollama:llama3.2:1b names both
// the GGUF blob in ollama's store (run by our engine, read in place) and
// the model the running ollama serves. The file keeps the plain name; the
// server's entry is listed as server:ollama:llama3.2:1b. Endpoint names
// may not hold ':', so "server:" followed by a known endpoint's name and a
// colon is never a store name.
const ServerPrefix = "server:"

// Target implements api.Servers.
func (a servers) Target(ctx context.Context, req *api.GenerateRequest) (bool, error) {
	cfg, err := a.config()
	if err != nil {
		return false, err
	}
	var ep external.Endpoint
	model := req.ModelName
	forced := false
	if rest, ok := strings.CutPrefix(req.ModelName, ServerPrefix); ok && req.Endpoint == "" {
		if name, _, ok := external.SplitModel(rest); ok {
			if _, known := a.endpoint(cfg, name); known {
				req.ModelName, forced = rest, true
			}
		}
	}
	switch {
	case req.Endpoint != "":
		if saved, ok := a.endpoint(cfg, req.Endpoint); ok {
			ep = saved
		} else if strings.Contains(req.Endpoint, "://") {
			ep = external.Endpoint{URL: req.Endpoint, API: req.API}
			if err := ep.Check(false); err != nil {
				return false, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
			}
		} else {
			return false, fmt.Errorf("%w: no saved endpoint %q: save it with 'energyprofiler endpoints add NAME URL', or give its URL", api.ErrNotFound, req.Endpoint)
		}
		if name, m, ok := external.SplitModel(model); ok && name == ep.Name {
			model = m
		}
	default:
		name, m, ok := external.SplitModel(req.ModelName)
		if !ok || (!forced && a.onDisk != nil && a.onDisk(req.ModelName)) {
			return false, nil
		}
		if ep, ok = a.endpoint(cfg, name); !ok {
			return false, nil // a model folder whose name holds a colon
		}
		model = m
	}
	if req.API != "" && req.API != ep.API {
		if ep.Name != "" {
			return false, fmt.Errorf("%w: api %q: the endpoint %s speaks %s", api.ErrBadRequest, req.API, ep.Name, ep.API)
		}
	}
	remote := !external.IsLocal(ctx, ep.URL)
	if u, err := url.Parse(ep.URL); err == nil && !remote && a.selfPort != "" && u.Port() == a.selfPort {
		return false, fmt.Errorf("%w: %s is this server: it runs one run at a time, so a run of its own /v1 would wait behind itself. Profile it from another process: energyprofiler profile --endpoint %s --model NAME --prompt TEXT", api.ErrBadRequest, external.Redact(ep.URL), external.Redact(ep.URL))
	}
	if req.Power != "" && req.Power != a.powerSpec {
		return false, fmt.Errorf("%w: power %q: power sources are chosen when the server starts (serve --power); this server uses %q, so give that", api.ErrBadRequest, req.Power, a.powerSpec)
	}
	if remote && req.Power == "" {
		return false, fmt.Errorf("%w: %s is another machine: this machine's power is not its power. To record this machine's energy while it waits anyway, give \"power\": %q explicitly (the run is labelled as such)", api.ErrBadRequest, external.Redact(ep.URL), a.powerSpec)
	}
	chat := req.Chat != nil && *req.Chat
	req.Target = &ServerTarget{Endpoint: ep, Model: model, Chat: chat, Remote: remote}
	if ep.Name != "" {
		req.ModelName = ep.Name + ":" + model
	} else {
		req.ModelName = model
	}
	return true, nil
}

// Endpoints implements api.Servers.
func (a servers) Endpoints(ctx context.Context) any {
	cfg, err := a.config()
	if err != nil {
		return []any{map[string]any{"error": err.Error()}}
	}
	return external.ProbeAll(ctx, a.http, cfg.WithDefaultOllama(), probeTimeout)
}

// Models implements api.Servers.
func (a servers) Models(ctx context.Context) []api.ModelInfo {
	cfg, err := a.config()
	if err != nil {
		return []api.ModelInfo{{Name: "endpoints.json", Error: err.Error()}}
	}
	var out []api.ModelInfo
	for _, p := range external.ProbeAll(ctx, a.http, cfg.WithDefaultOllama(), probeTimeout) {
		if !p.Reachable {
			continue
		}
		for _, m := range p.Models {
			facts := map[string]any{"kind": "server", "endpoint": p.Endpoint.Name, "endpoint_url": external.Redact(p.Endpoint.URL),
				"api": p.Endpoint.API, "server_model": m.Name, "remote": !p.Local}
			for k, v := range map[string]string{"family": m.Family, "parameter_size": m.ParameterSize, "quantization": m.Quantization} {
				if v != "" {
					facts[k] = v
				}
			}
			name := p.Endpoint.Name + ":" + m.Name
			facts["label"] = fmt.Sprintf("server: %s (%s API at %s), a server run", p.Endpoint.Name, p.Endpoint.API, external.Redact(p.Endpoint.URL))
			if a.onDisk != nil && a.onDisk(name) {
				// The same name is a model file here: both are listed and
				// runnable, the file under its name, the server under its own.
				facts["file_model"] = name
				facts["note"] = fmt.Sprintf("%s is also a model file on this machine (run by the built-in engine, read in place); this entry is the %s server's", name, p.Endpoint.Name)
				name = ServerPrefix + name
			}
			out = append(out, api.ModelInfo{Name: name, Facts: facts})
		}
	}
	return out
}

// serverRequest turns a queued API request aimed at a server into a
// session request.
func serverRequest(r api.GenerateRequest, t *ServerTarget, hc *http.Client) session.ServerRequest {
	sr := SessionRequest(r)
	req := external.Request{Endpoint: t.Endpoint, Model: t.Model, Prompt: r.Prompt, Chat: t.Chat, MaxTokens: r.MaxLength,
		Temperature: r.Temperature, TopP: r.TopP, Seed: r.Seed}
	if r.Greedy != nil && *r.Greedy && r.Temperature == nil {
		zero := 0.0
		req.Temperature = &zero
	}
	return session.ServerRequest{Server: req, ModelName: r.ModelName, Tags: r.Tags, Idle: sr.Idle, Remote: t.Remote, HTTP: hc}
}
