package external

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// APIs a server may speak.
const (
	APIOpenAI = "openai"
	APIOllama = "ollama"
)

// OllamaDefaultURL is where ollama listens unless OLLAMA_HOST says otherwise.
const OllamaDefaultURL = "http://127.0.0.1:11434"

// Endpoint is a server to send requests to. A saved endpoint has a name;
// KeyEnv names the environment variable holding its API key, which is read
// when a request is made and never stored.
type Endpoint struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	API    string `json:"api"`
	KeyEnv string `json:"key_env,omitempty"`
	// Discovered is true for the ollama found on its default port.
	Discovered bool `json:"discovered,omitempty"`
}

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$`)
	envVarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
)

// Check validates an endpoint; a name is required only for saved ones.
func (e *Endpoint) Check(saved bool) error {
	if saved && !nameRE.MatchString(e.Name) {
		return fmt.Errorf("endpoint name %q: use 1-40 letters, digits, '.', '_' or '-' (no ':', which separates it from the model in 'name:model')", e.Name)
	}
	if e.API == "" {
		e.API = DefaultAPI(e.URL)
	}
	if e.API != APIOpenAI && e.API != APIOllama {
		return fmt.Errorf("api %q: use openai or ollama", e.API)
	}
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint URL %q: give http://HOST:PORT/… (for OpenAI-compatible servers the base that /chat/completions follows, usually ending in /v1)", e.URL)
	}
	if u.User != nil {
		return fmt.Errorf("endpoint URL %q holds credentials: put the key in an environment variable and give its name (key_env)", Redact(e.URL))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("endpoint URL %q: give the base URL without a query or fragment", e.URL)
	}
	e.URL = strings.TrimRight(e.URL, "/")
	if e.KeyEnv != "" && !envVarRE.MatchString(e.KeyEnv) {
		return fmt.Errorf("key_env %q: give the name of an environment variable (the key itself is never stored)", e.KeyEnv)
	}
	return nil
}

// DefaultAPI guesses a URL's API: ollama on ollama's port, else openai.
func DefaultAPI(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Port() == "11434" && !strings.HasPrefix(u.Path, "/v1") {
		return APIOllama
	}
	return APIOpenAI
}

// Redact removes credentials from a URL for messages and storage.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unreadable URL)"
	}
	u.User = nil
	return u.String()
}

// key returns the endpoint's API key from the environment ("" when none).
func (e Endpoint) key() string {
	if e.KeyEnv == "" {
		return ""
	}
	return os.Getenv(e.KeyEnv)
}

// Config is the saved endpoints file.
type Config struct {
	Endpoints []Endpoint `json:"endpoints"`
}

// EndpointsPathEnv overrides where the saved endpoints live.
const EndpointsPathEnv = "ENERGYPROFILER_ENDPOINTS"

// DefaultPath is the saved endpoints file: $ENERGYPROFILER_ENDPOINTS, else
// endpoints.json in the user's configuration folder.
func DefaultPath() (string, error) {
	if p := os.Getenv(EndpointsPathEnv); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the configuration folder for endpoints.json (set %s): %w", EndpointsPathEnv, err)
	}
	return filepath.Join(dir, "energyprofiler", "endpoints.json"), nil
}

// Load reads the saved endpoints; a missing file is an empty list.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Config{Endpoints: []Endpoint{}}, nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("read saved endpoints: %w", err)
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("saved endpoints %s are not valid JSON (%v): fix or remove the file", path, err)
	}
	for i := range c.Endpoints {
		if err := c.Endpoints[i].Check(true); err != nil {
			return Config{}, fmt.Errorf("saved endpoints %s: %w", path, err)
		}
	}
	if c.Endpoints == nil {
		c.Endpoints = []Endpoint{}
	}
	return c, nil
}

// Save writes the endpoints atomically (a temporary file renamed over the
// old one), readable by the user only.
func Save(path string, c Config) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save endpoints: %w", err)
	}
	sort.Slice(c.Endpoints, func(i, j int) bool { return c.Endpoints[i].Name < c.Endpoints[j].Name })
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".endpoints-*")
	if err != nil {
		return fmt.Errorf("save endpoints: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save endpoints: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save endpoints: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save endpoints: %w", err)
	}
	return nil
}

// Find returns the saved endpoint called name.
func (c Config) Find(name string) (Endpoint, bool) {
	for _, e := range c.Endpoints {
		if e.Name == name {
			return e, true
		}
	}
	return Endpoint{}, false
}

// DefaultOllama is the ollama endpoint used without configuration: the
// address in OLLAMA_HOST when set (as ollama itself reads it), else
// 127.0.0.1:11434.
func DefaultOllama() Endpoint {
	u := OllamaDefaultURL
	if h := strings.TrimSpace(os.Getenv("OLLAMA_HOST")); h != "" {
		if !strings.Contains(h, "://") {
			h = "http://" + h
		}
		if p, err := url.Parse(h); err == nil && p.Host != "" {
			host := p.Hostname()
			if host == "0.0.0.0" || host == "::" || host == "" {
				host = "127.0.0.1"
			}
			port := p.Port()
			if port == "" {
				port = "11434"
			}
			u = p.Scheme + "://" + net.JoinHostPort(host, port)
		}
	}
	return Endpoint{Name: "ollama", URL: u, API: APIOllama, Discovered: true}
}

// Endpoints lists the saved endpoints plus, unless one is already saved
// under its name, the default ollama.
func (c Config) WithDefaultOllama() []Endpoint {
	out := append([]Endpoint(nil), c.Endpoints...)
	if _, ok := c.Find("ollama"); !ok {
		out = append(out, DefaultOllama())
	}
	return out
}

// SplitModel splits "endpoint:model" (as the models list shows server
// models: ollama:llama3.2:1b) at the first colon.
func SplitModel(s string) (endpoint, model string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// Model is one model a server offers.
type Model struct {
	// Name is what requests use; Endpoint the endpoint's name.
	Name     string `json:"name"`
	Endpoint string `json:"endpoint"`
	// Optional facts the server gives (ollama: family, parameter size,
	// quantization, bytes).
	Family        string `json:"family,omitempty"`
	ParameterSize string `json:"parameter_size,omitempty"`
	Quantization  string `json:"quantization,omitempty"`
	SizeBytes     int64  `json:"size_bytes,omitempty"`
}

// ListModels asks a server which models it offers: GET {URL}/models for
// OpenAI-compatible servers, GET {URL}/api/tags for ollama.
func ListModels(ctx context.Context, hc *http.Client, e Endpoint) ([]Model, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	route := "/models"
	if e.API == APIOllama {
		route = "/api/tags"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+route, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Redact(e.URL), err)
	}
	if k := e.key(); k != "" {
		req.Header.Set("Authorization", "Bearer "+k)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("list models at %s: %w", Redact(e.URL)+route, err)
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body, 4<<20)
	if err != nil {
		return nil, fmt.Errorf("list models at %s: %w", Redact(e.URL)+route, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list models at %s: %s", Redact(e.URL)+route, statusError(resp, body))
	}
	var out []Model
	if e.API == APIOllama {
		var tags struct {
			Models []struct {
				Name    string `json:"name"`
				Model   string `json:"model"`
				Size    int64  `json:"size"`
				Details struct {
					Family            string `json:"family"`
					ParameterSize     string `json:"parameter_size"`
					QuantizationLevel string `json:"quantization_level"`
				} `json:"details"`
			} `json:"models"`
		}
		if err := json.Unmarshal(body, &tags); err != nil {
			return nil, fmt.Errorf("list models at %s: not ollama's JSON (%v)", Redact(e.URL)+route, err)
		}
		for _, m := range tags.Models {
			name := m.Name
			if name == "" {
				name = m.Model
			}
			out = append(out, Model{Name: name, Endpoint: e.Name, Family: m.Details.Family, ParameterSize: m.Details.ParameterSize,
				Quantization: m.Details.QuantizationLevel, SizeBytes: m.Size})
		}
	} else {
		var list struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, fmt.Errorf("list models at %s: not an OpenAI model list (%v)", Redact(e.URL)+route, err)
		}
		for _, m := range list.Data {
			out = append(out, Model{Name: m.ID, Endpoint: e.Name})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Probe is what doctor and the models list say about one endpoint.
type Probe struct {
	Endpoint  Endpoint `json:"endpoint"`
	Reachable bool     `json:"reachable"`
	Models    []Model  `json:"models"`
	Error     string   `json:"error,omitempty"`
	// KeySet says whether the key's environment variable is set (never the key).
	KeySet bool `json:"key_set"`
	Local  bool `json:"local"`
}

// ProbeAll asks every endpoint for its models at once, each within timeout.
// A default ollama that is not running is left out rather than reported.
func ProbeAll(ctx context.Context, hc *http.Client, eps []Endpoint, timeout time.Duration) []Probe {
	out := make([]Probe, len(eps))
	done := make(chan struct{})
	for i, e := range eps {
		go func() {
			defer func() { done <- struct{}{} }()
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			p := Probe{Endpoint: e, KeySet: e.KeyEnv != "" && e.key() != ""}
			p.Local = IsLocal(pctx, e.URL)
			models, err := ListModels(pctx, hc, e)
			if err != nil {
				p.Error = err.Error()
			} else {
				p.Reachable, p.Models = true, models
			}
			if p.Models == nil {
				p.Models = []Model{}
			}
			out[i] = p
		}()
	}
	for range eps {
		<-done
	}
	kept := out[:0]
	for _, p := range out {
		if p.Endpoint.Discovered && !p.Reachable {
			continue
		}
		kept = append(kept, p)
	}
	return kept
}
