package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"energyprofiler/backend/demo"
	"energyprofiler/backend/modeldir"
)

// runModels dispatches the models subcommands. Only "demo" exists for now.
func runModels(ctx context.Context, env Env) error {
	if len(env.Args) == 0 || env.Args[0] != "demo" {
		fmt.Fprintln(env.Stderr, "usage: energyprofiler models demo [--dir DIR]")
		return fmt.Errorf("%w: want the subcommand 'demo'", ErrUsage)
	}
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
	if err := fs.Parse(env.Args[1:]); err != nil {
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
