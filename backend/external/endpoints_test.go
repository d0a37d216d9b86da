package external

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEndpointCheck(t *testing.T) {
	for _, c := range []struct {
		e    Endpoint
		want string // "" valid
	}{
		{Endpoint{Name: "lab", URL: "http://127.0.0.1:8080/v1/", API: "openai"}, ""},
		{Endpoint{Name: "o", URL: "http://127.0.0.1:11434"}, ""},
		{Endpoint{Name: "a:b", URL: "http://x"}, "no ':'"},
		{Endpoint{Name: "x", URL: "ftp://x"}, "give http://"},
		{Endpoint{Name: "x", URL: "http://user:secret@host/v1"}, "holds credentials"},
		{Endpoint{Name: "x", URL: "http://host/v1", API: "grpc"}, "use openai or ollama"},
		{Endpoint{Name: "x", URL: "http://host/v1", KeyEnv: "sk-123 real key"}, "name of an environment variable"},
	} {
		err := c.e.Check(true)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.e, err, c.want)
		}
		if strings.Contains(errText(err), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	e := Endpoint{Name: "o", URL: "http://127.0.0.1:11434/"}
	if err := e.Check(true); err != nil || e.API != APIOllama || e.URL != "http://127.0.0.1:11434" {
		t.Errorf("defaults: %+v %v", e, err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSaveLoadEndpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "endpoints.json")
	c, err := Load(path)
	if err != nil || len(c.Endpoints) != 0 {
		t.Fatalf("missing file: %v %v", c, err)
	}
	c.Endpoints = append(c.Endpoints, Endpoint{Name: "vllm", URL: "http://127.0.0.1:8001/v1", API: APIOpenAI, KeyEnv: "VLLM_KEY"})
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("endpoints.json is readable by others: %v", fi.Mode())
	}
	t.Setenv("VLLM_KEY", "sk-never-stored")
	got, err := Load(path)
	if err != nil || len(got.Endpoints) != 1 || got.Endpoints[0].KeyEnv != "VLLM_KEY" {
		t.Fatalf("%+v %v", got, err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "sk-never-stored") {
		t.Error("a key was written to disk")
	}
	os.WriteFile(path, []byte(`{"endpoints":[{"name":"bad:name","url":"http://x"}]}`), 0o600)
	if _, err := Load(path); err == nil {
		t.Error("a bad saved endpoint loaded")
	}
}

func TestDefaultOllama(t *testing.T) {
	t.Setenv("OLLAMA_HOST", "")
	if e := DefaultOllama(); e.URL != "http://127.0.0.1:11434" || e.API != APIOllama || e.Name != "ollama" {
		t.Errorf("%+v", e)
	}
	t.Setenv("OLLAMA_HOST", "0.0.0.0:9999")
	if e := DefaultOllama(); e.URL != "http://127.0.0.1:9999" {
		t.Errorf("%+v", e)
	}
	c := Config{Endpoints: []Endpoint{{Name: "ollama", URL: "http://10.0.0.9:11434", API: APIOllama}}}
	if eps := c.WithDefaultOllama(); len(eps) != 1 || eps[0].URL != "http://10.0.0.9:11434" {
		t.Errorf("a saved ollama replaces the default: %+v", eps)
	}
	if eps := (Config{}).WithDefaultOllama(); len(eps) != 1 || !eps[0].Discovered {
		t.Errorf("%+v", eps)
	}
}

func TestSplitModel(t *testing.T) {
	for _, c := range []struct{ in, ep, m string }{{"ollama:llama3.2:1b", "ollama", "llama3.2:1b"}, {"lab:gpt-4o", "lab", "gpt-4o"}} {
		ep, m, ok := SplitModel(c.in)
		if !ok || ep != c.ep || m != c.m {
			t.Errorf("%q: %q %q %v", c.in, ep, m, ok)
		}
	}
	for _, bad := range []string{"demo-110m", ":x", "x:"} {
		if _, _, ok := SplitModel(bad); ok {
			t.Errorf("%q split", bad)
		}
	}
}

func TestListModelsAndProbe(t *testing.T) {
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/api/tags":
			w.Write([]byte(`{"models":[{"name":"qwen2.5:0.5b","size":397821319,"details":{"family":"qwen2","parameter_size":"494.03M","quantization_level":"Q4_K_M"}},{"name":"llama3.2:1b","details":{}}]}`))
		case "/v1/models":
			w.Write([]byte(`{"object":"list","data":[{"id":"b-model","object":"model"},{"id":"a-model","object":"model"}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	ms, err := ListModels(ctx, nil, Endpoint{Name: "ollama", URL: srv.URL, API: APIOllama})
	if err != nil || len(ms) != 2 || ms[0].Name != "llama3.2:1b" || ms[1].Quantization != "Q4_K_M" || ms[1].Endpoint != "ollama" {
		t.Fatalf("%+v %v", ms, err)
	}
	t.Setenv("LAB_KEY", "sk-test")
	ms, err = ListModels(ctx, nil, Endpoint{Name: "lab", URL: srv.URL + "/v1", API: APIOpenAI, KeyEnv: "LAB_KEY"})
	if err != nil || len(ms) != 2 || ms[0].Name != "a-model" || auth != "Bearer sk-test" {
		t.Fatalf("%+v %v auth %q", ms, err, auth)
	}
	if _, err := ListModels(ctx, nil, Endpoint{Name: "x", URL: srv.URL + "/nothing", API: APIOpenAI}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}

	// A default ollama that is not running is left out; a saved endpoint
	// that is down is reported with its error.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	probes := ProbeAll(ctx, nil, []Endpoint{
		{Name: "lab", URL: srv.URL + "/v1", API: APIOpenAI, KeyEnv: "LAB_KEY"},
		{Name: "down", URL: deadURL, API: APIOpenAI},
		{Name: "ollama", URL: deadURL, API: APIOllama, Discovered: true},
	}, time.Second)
	if len(probes) != 2 || !probes[0].Reachable || !probes[0].KeySet || !probes[0].Local || probes[1].Reachable || probes[1].Error == "" {
		t.Fatalf("%+v", probes)
	}
}

func TestIsLocal(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"http://127.0.0.1:1/v1", "http://localhost:11434", "http://[::1]:8000/v1"} {
		if !IsLocal(ctx, u) {
			t.Errorf("%s is this machine", u)
		}
	}
	// Documentation addresses (RFC 5737) are never this machine's.
	for _, u := range []string{"http://192.0.2.10:8000/v1", "http://198.51.100.7:11434"} {
		if IsLocal(ctx, u) {
			t.Errorf("%s is another machine", u)
		}
	}
}
