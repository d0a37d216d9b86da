package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"

	"energyprofiler/backend/model"
	"energyprofiler/backend/tokenizer"
)

// tokenizeReport is what `tokenize --json` prints. Scripts parse it, so keep
// the names.
type tokenizeReport struct {
	IDs    []int    `json:"ids"`
	Pieces []string `json:"pieces"`
	Count  int      `json:"count"`
}

// runTokenize encodes TEXT with DIR/tokenizer.json (or a GGUF file's
// tokenizer) and prints the ids and
// pieces.
func runTokenize(ctx context.Context, env Env) error {
	fs := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	modelDir := fs.String("model", "", "model folder holding tokenizer.json, a .gguf file, or the path of a tokenizer.json file")
	asJSON := fs.Bool("json", false, `print {"ids":[…],"pieces":[…],"count":N}`)
	noSpecial := fs.Bool("no-special", false, "do not add the model's special tokens (such as the BOS token)")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: energyprofiler tokenize --model DIR [--json] [--no-special] TEXT")
		fmt.Fprintln(env.Stderr, "Encodes TEXT with the model's tokenizer (tokenizer.json, or a GGUF file's own) and prints token ids and pieces.")
		fmt.Fprintln(env.Stderr, "Quote TEXT to keep its spaces; put -- before a TEXT that starts with '-'.")
		fs.PrintDefaults()
	}
	args, err := parseInterspersed(fs, env.Args)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if *modelDir == "" {
		fs.Usage()
		return fmt.Errorf("%w: --model DIR is required", ErrUsage)
	}
	if len(args) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want exactly one TEXT argument, got %d (quote text that has spaces)", ErrUsage, len(args))
	}
	tok, err := loadTokenizer(*modelDir)
	if err != nil {
		return err
	}
	ids := tok.Encode(args[0], !*noSpecial)
	report := tokenizeReport{IDs: nonNil(ids), Pieces: make([]string, len(ids)), Count: len(ids)}
	for i, id := range ids {
		report.Pieces[i] = tok.Piece(id)
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetEscapeHTML(false) // keep "<s>" readable
		return enc.Encode(report)
	}
	fmt.Fprintf(env.Stdout, "%d tokens (vocabulary %d)\n", len(ids), tok.VocabSize())
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tid\tpiece\ttext")
	// The text column is what each token adds to the decoded text, so byte
	// tokens of one character show "" until the token that completes it.
	stream := tok.NewStreamDecoder()
	for i, id := range ids {
		text := stream.Next(id)
		mark := ""
		if tok.IsSpecial(id) {
			mark = "  (special)"
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s%s\n", i, id, strconv.Quote(report.Pieces[i]), strconv.Quote(text), mark)
	}
	return tw.Flush()
}

// loadTokenizer accepts a model folder or a tokenizer.json path.
func loadTokenizer(path string) (*tokenizer.Tokenizer, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w (point --model at a Hugging Face model folder)", path, err)
	}
	if !info.IsDir() && model.IsGGUF(path) {
		return tokenizer.LoadGGUF(path)
	}
	file := path
	if info.IsDir() {
		file = filepath.Join(path, "tokenizer.json")
		if _, err := os.Stat(file); err != nil {
			return nil, fmt.Errorf("model %s has no tokenizer.json: %w (download it with the model, or run 'energyprofiler models demo' for a demo model)", path, err)
		}
	}
	return tokenizer.Load(file)
}
