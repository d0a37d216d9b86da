package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"energyprofiler/backend/demo"
	"energyprofiler/backend/modeldir"
	"energyprofiler/backend/modelstore"
)

// runModels lists every model the user has (the models folder, the
// Hugging Face hub cache, ollama, LM Studio), or with "demo" writes the
// demo models.
func runModels(ctx context.Context, env Env) error {
	if len(env.Args) > 0 && env.Args[0] == "demo" {
		return runModelsDemo(ctx, Env{Args: env.Args[1:], Stdout: env.Stdout, Stderr: env.Stderr})
	}
	fs := flag.NewFlagSet("models", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	dir := fs.String("models-dir", "", "the models folder (default ~/EnergyProfiler/models)")
	asJSON := fs.Bool("json", false, "print the list as JSON")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: energyprofiler models [--models-dir DIR] [--json]   list the models you have")
		fmt.Fprintln(env.Stderr, "       energyprofiler models demo [--dir DIR]              write the demo models")
		fmt.Fprintln(env.Stderr, "Lists the models folder and, read in place, the Hugging Face hub cache (HF_HUB_CACHE, HF_HOME),")
		fmt.Fprintln(env.Stderr, "ollama (OLLAMA_MODELS) and LM Studio. Pass a listed name to --model.")
		fs.PrintDefaults()
	}
	args, err := parseInterspersed(fs, env.Args)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if len(args) > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q (the only subcommand is demo)", ErrUsage, args[0])
	}
	catalog, err := defaultCatalog(*dir)
	if err != nil {
		return err
	}
	entries, err := catalog.List()
	if errors.Is(err, os.ErrNotExist) {
		entries, err = catalog.Roots.List(), nil // no models folder yet: the stores still count
	}
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]modelJSON, 0, len(entries))
		for _, e := range entries {
			out = append(out, toModelJSON(e))
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tFORMAT\tQUANT\tSIZE\tSTATE")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Source, e.Format, orDash(e.Quantization), sizeText(e.SizeBytes), stateText(e))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(entries) == 0 {
		fmt.Fprintf(env.Stdout, "No models in %s or the tools' stores; run 'energyprofiler models demo'.\n", catalog.ModelsDir)
	}
	return nil
}

// modelJSON is one model of `models --json`. Unknown sizes and
// quantizations are null, never 0 or "".
type modelJSON struct {
	Name         string  `json:"name"`
	Source       string  `json:"source"`
	Format       string  `json:"format"`
	Quantization *string `json:"quantization"`
	SizeBytes    *int64  `json:"size_bytes"`
	Complete     bool    `json:"complete"`
	Note         string  `json:"note,omitempty"`
	Error        string  `json:"error,omitempty"`
	Path         string  `json:"path,omitempty"`
	Demo         bool    `json:"demo"`
}

func toModelJSON(e modelstore.Entry) modelJSON {
	m := modelJSON{Name: e.Name, Source: e.Source, Format: e.Format, Complete: e.Complete, Note: e.Note, Path: e.Path, Demo: e.Demo}
	if e.Quantization != "" {
		m.Quantization = &e.Quantization
	}
	if e.SizeBytes > 0 {
		m.SizeBytes = &e.SizeBytes
	}
	if e.Err != nil {
		m.Error = e.Err.Error()
	}
	return m
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sizeText(n int64) string {
	switch {
	case n <= 0:
		return "-"
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func stateText(e modelstore.Entry) string {
	switch {
	case e.Err != nil:
		return "unusable: " + oneLine(e.Err.Error(), 120)
	case !e.Complete:
		return "incomplete: " + oneLine(e.Note, 120)
	case e.Demo:
		return "ready (demo)"
	}
	return "ready"
}

// defaultCatalog is the catalog of dir (default ~/EnergyProfiler/models)
// and the stores where the tools keep their models.
func defaultCatalog(dir string) (modelstore.Catalog, error) {
	if dir == "" {
		d, err := modeldir.Default()
		if err != nil {
			return modelstore.Catalog{}, err
		}
		dir = d
	}
	return modelstore.NewCatalog(dir), nil
}

// resolveModel maps --model to what to load and what to call the run: a
// path as it is; else a name from `energyprofiler models` (hf:ORG/NAME,
// ollama:NAME:TAG, lmstudio:..., or a folder of the models folder).
func resolveModel(arg string) (path, name string, err error) {
	asPath := func() (string, string, error) { return arg, filepath.Base(filepath.Clean(arg)), nil }
	if _, statErr := os.Stat(arg); statErr == nil {
		return asPath()
	}
	if !modelstore.IsStoreName(arg) && strings.ContainsAny(arg, `/\`) {
		return asPath() // a path that is not there: the loader says what is missing
	}
	catalog, err := defaultCatalog("")
	if err != nil {
		return "", "", err
	}
	path, err = catalog.Resolve(arg)
	switch {
	case err == nil:
		return path, arg, nil
	case modelstore.IsStoreName(arg) || errors.Is(err, modelstore.ErrUnusable):
		return "", "", err
	}
	return asPath()
}

// runModelsDemo writes the demo models.
func runModelsDemo(ctx context.Context, env Env) error {
	fs := flag.NewFlagSet("models demo", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	dir := fs.String("dir", "", "folder to write the demo model folders into (default ~/EnergyProfiler/models)")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: energyprofiler models demo [--dir DIR]")
		fmt.Fprintln(env.Stderr, "Writes the built-in demo models: deterministic random-weight Hugging Face folders,")
		fmt.Fprintln(env.Stderr, "and quantized GGUF versions of demo-110m-gqa (Q8_0, Q4_K_M) made as llama.cpp makes them.")
		fmt.Fprintln(env.Stderr, "Their text is meaningless; they exist to measure speed and energy out of the box.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(env.Args); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	if *dir == "" {
		d, err := modeldir.Default()
		if err != nil {
			return err
		}
		*dir = d
	}
	descriptions := map[string]string{}
	for _, s := range demo.Specs() {
		descriptions[s.Name] = s.Description
	}
	for _, q := range demo.QuantSpecs() {
		descriptions[q.Name] = q.Description
	}
	for _, name := range demo.Names() {
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "writing %s (%s)... ", name, descriptions[name])
		start := time.Now()
		path, err := demo.Write(*dir, name)
		if err != nil {
			fmt.Fprintln(env.Stdout, "failed")
			return err
		}
		fmt.Fprintf(env.Stdout, "done in %.1fs: %s\n", time.Since(start).Seconds(), path)
	}
	fmt.Fprintln(env.Stdout, "Demo models have random weights: the text they generate is meaningless.")
	fmt.Fprintln(env.Stdout, "For real text, pass --model a Hugging Face model folder (config.json, *.safetensors, tokenizer.json) or a .gguf file.")
	return nil
}
