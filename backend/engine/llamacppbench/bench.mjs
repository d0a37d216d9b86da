// Measures llama.cpp and Energy Profiler's engine on the same weights in one
// run, round-robin, and prints each round's ratio and the medians.
//
// llama.cpp comes prebuilt from npm (node-llama-cpp's CPU binaries, which
// pick a ggml CPU variant for this processor at load time); our engine runs
// through the product's own CLI (`energyprofiler generate --json`). Both get
// the same token ids: a 512-token prompt, then 48 greedy decode steps, on the
// same number of threads. The demo's safetensors weights are converted to a
// GGUF file (Q and K rows permuted the way llama.cpp's converter does), so
// both engines multiply the same numbers.
//
//	node bench.mjs --bin ../../../bin/energyprofiler --model DEMO_DIR [--dtype bf16|f32]
//	               [--rounds 5] [--prompt 512] [--decode 48] [--threads 2]
//
// `make bench-llamacpp` runs it on demo-110m-gqa in bf16 and f32.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const args = parseArgs(process.argv.slice(2), {
  bin: "", model: "", dtype: "bf16", rounds: "5", prompt: "512", decode: "48", threads: "2",
});
if (!args.bin || !args.model) {
  console.error("usage: node bench.mjs --bin ENERGYPROFILER --model DEMO_DIR [--dtype bf16|f32] [--rounds N]");
  process.exit(2);
}
const rounds = +args.rounds, promptLen = +args.prompt, decodeLen = +args.decode, threads = +args.threads;
const dtype = args.dtype;
if (dtype !== "bf16" && dtype !== "f32") throw new Error(`--dtype must be bf16 or f32, got ${dtype}`);

const work = fs.mkdtempSync(path.join(os.tmpdir(), "ep-llamacpp-"));
const hf = readSafetensors(path.join(args.model, "model.safetensors"));
const config = JSON.parse(fs.readFileSync(path.join(args.model, "config.json"), "utf8"));
const tokenizer = JSON.parse(fs.readFileSync(path.join(args.model, "tokenizer.json"), "utf8"));

// Our engine reads a model folder: for f32, a copy with the weights widened.
let ourDir = args.model;
if (dtype === "f32") {
  ourDir = path.join(work, "hf-f32");
  fs.mkdirSync(ourDir);
  for (const f of ["config.json", "tokenizer.json", "generation_config.json", "DEMO_MODEL.txt"]) {
    if (fs.existsSync(path.join(args.model, f))) fs.copyFileSync(path.join(args.model, f), path.join(ourDir, f));
  }
  writeSafetensorsF32(path.join(ourDir, "model.safetensors"), hf);
}
const ggufPath = path.join(work, `model-${dtype}.gguf`);
writeGGUF(ggufPath, hf, config, tokenizer, dtype);

const ids = Array.from({ length: promptLen }, (_, i) => (i * 7919 + 13) % 1000);

const logs = [];
const llama = await getLlama({
  gpu: false, build: "never", usePrebuiltBinaries: true, progressLogs: false,
  logLevel: LlamaLogLevel.debug,
  logger: (level, message) => { logs.push(message.trim()); },
});
const model = await llama.loadModel({ modelPath: ggufPath, gpuLayers: 0 });
const context = await model.createContext({
  contextSize: 1024, batchSize: promptLen, threads: { ideal: threads, min: threads }, sequences: 1,
});
const sequence = context.getSequence();
const variant = logs.find((l) => /load_backend|CPU backend|libggml-cpu/.test(l)) ?? "(not logged)";
const features = logs.find((l) => /system_info|CPU :/.test(l)) ?? "";

async function llamaRound() {
  await sequence.clearHistory();
  const t0 = performance.now();
  await sequence.evaluateWithoutGeneratingNewTokens(ids);
  const t1 = performance.now();
  // Decode: one token per evaluation, as a generation step does. The ids
  // are fed rather than sampled: node-llama-cpp's sampling loop adds
  // JavaScript work per token that llama.cpp itself does not do, and with
  // random weights the ids do not matter for speed.
  const t2 = performance.now();
  for (let i = 0; i < decodeLen; i++) {
    await sequence.evaluateWithoutGeneratingNewTokens([ids[i % ids.length]]);
  }
  const t3 = performance.now();
  return { prefill: promptLen / ((t1 - t0) / 1e3), decode: decodeLen / ((t3 - t2) / 1e3) };
}

function oursRound() {
  const r = spawnSync(args.bin, [
    "generate", "--model", ourDir, "--ids", ids.join(","), "--max-tokens", String(decodeLen),
    "--ignore-eos", "--greedy", "--threads", String(threads), "--context", "1024", "--json",
  ], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`energyprofiler generate failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout);
  return { prefill: j.prefill_tokens_per_second, decode: j.decode_tokens_per_second, backend: j.backend };
}

await llamaRound(); // warm up: page in both models
let backend = oursRound().backend;
const rows = [];
for (let i = 0; i < rounds; i++) {
  const l = await llamaRound();
  const o = oursRound();
  rows.push({ l, o });
  console.log(`round ${i + 1}: prefill ${promptLen}: llama.cpp ${l.prefill.toFixed(0)} tok/s, ours ${o.prefill.toFixed(0)} tok/s (x${(o.prefill / l.prefill).toFixed(2)}); ` +
    `decode: llama.cpp ${l.decode.toFixed(1)} tok/s, ours ${o.decode.toFixed(1)} tok/s (x${(o.decode / l.decode).toFixed(2)})`);
}
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const spread = (xs) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
const pr = rows.map((r) => r.o.prefill / r.l.prefill), dr = rows.map((r) => r.o.decode / r.l.decode);
console.log(`\n${path.basename(args.model)} ${dtype}, ${threads} threads, ${rounds} rounds`);
console.log(`llama.cpp: node-llama-cpp ${JSON.parse(fs.readFileSync(new URL("./node_modules/node-llama-cpp/package.json", import.meta.url))).version}; ${variant}`);
if (features) console.log(`  ${features}`);
console.log(`ours: ${backend}`);
// Medians, and the best round of each engine: on a shared host the best
// round is the nearest to an idle machine.
const best = (xs) => Math.max(...xs);
for (const [what, key, digits, ratios] of [[`prefill ${promptLen}`, "prefill", 0, pr], ["decode", "decode", 1, dr]]) {
  const l = rows.map((r) => r.l[key]), o = rows.map((r) => r.o[key]);
  console.log(`${what}: llama.cpp median ${med(l).toFixed(digits)} (best ${best(l).toFixed(digits)}) tok/s, ` +
    `ours median ${med(o).toFixed(digits)} (best ${best(o).toFixed(digits)}) tok/s; ` +
    `ratio median ${med(ratios).toFixed(2)} (rounds ${spread(ratios)}), best/best ${(best(o) / best(l)).toFixed(2)}`);
}

await context.dispose();
await model.dispose();
fs.rmSync(work, { recursive: true, force: true });

// ---------------------------------------------------------------------------

function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(\w+)$/.exec(argv[i]);
    if (!m || !(m[1] in defaults) || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    out[m[1]] = argv[++i];
  }
  return out;
}

function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  const base = 8 + n;
  const tensors = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const [a, b] = t.data_offsets;
    tensors[name] = { dtype: t.dtype, shape: t.shape, data: buf.subarray(base + a, base + b) };
  }
  return tensors;
}

// toF32 widens a tensor's elements to a Float32Array.
function toF32(t) {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (t.dtype === "F32") {
    for (let i = 0; i < n; i++) out[i] = t.data.readFloatLE(4 * i);
  } else if (t.dtype === "BF16") {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = t.data.readUInt16LE(2 * i) << 16;
  } else {
    throw new Error(`dtype ${t.dtype} not handled`);
  }
  return out;
}

function writeSafetensorsF32(file, tensors) {
  const names = Object.keys(tensors).sort();
  const header = {};
  let off = 0;
  for (const name of names) {
    const n = tensors[name].shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: "F32", shape: tensors[name].shape, data_offsets: [off, off + 4 * n] };
    off += 4 * n;
  }
  let h = Buffer.from(JSON.stringify(header));
  h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  const fd = fs.openSync(file, "w");
  fs.writeSync(fd, len);
  fs.writeSync(fd, h);
  for (const name of names) fs.writeSync(fd, Buffer.from(toF32(tensors[name]).buffer));
  fs.closeSync(fd);
}

// permuteQK reorders a Q or K projection's rows from Hugging Face's
// rotate-half layout to llama.cpp's interleaved pairs, as
// convert_hf_to_gguf.py's LlamaModel.permute does: GGUF row h·d+2i+s is HF
// row h·d+s·d/2+i.
function permuteQK(rowsData, heads, rowBytes) {
  const total = rowsData.length / rowBytes;
  const d = total / heads;
  const out = Buffer.alloc(rowsData.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < d / 2; i++) {
      for (let s = 0; s < 2; s++) {
        const dst = h * d + 2 * i + s, src = h * d + s * (d / 2) + i;
        rowsData.copy(out, dst * rowBytes, src * rowBytes, (src + 1) * rowBytes);
      }
    }
  }
  return out;
}

// writeGGUF writes a GGUF v3 file for a Llama-architecture folder: the
// config as llama.* keys, the byte-level BPE tokenizer as tokenizer.ggml.*
// (padded with unused tokens to the embedding's row count), matrices in
// dtype and 1-D norm weights in f32 (as llama.cpp's converter stores them).
function writeGGUF(file, tensors, cfg, tok, dtype) {
  const ALIGN = 32;
  const T = { U32: 4, I32: 5, F32: 6, BOOL: 7, STR: 8, ARR: 9 };
  const chunks = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const i32 = (v) => { const b = Buffer.alloc(4); b.writeInt32LE(v); return b; };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  const f32 = (v) => { const b = Buffer.alloc(4); b.writeFloatLE(v); return b; };
  const str = (s) => { const b = Buffer.from(s, "utf8"); return Buffer.concat([u64(b.length), b]); };
  const kvs = [];
  const kv = (key, type, value) => kvs.push(Buffer.concat([str(key), u32(type), value]));
  const arr = (type, items, enc) => Buffer.concat([u32(type), u64(items.length), ...items.map(enc)]);

  const heads = cfg.num_attention_heads, kvHeads = cfg.num_key_value_heads ?? heads;
  const headDim = cfg.hidden_size / heads;
  kv("general.architecture", T.STR, str("llama"));
  kv("general.name", T.STR, str(`energyprofiler ${path.basename(args.model)}`));
  kv("general.file_type", T.U32, u32(dtype === "bf16" ? 32 : 0));
  kv("general.alignment", T.U32, u32(ALIGN));
  kv("llama.context_length", T.U32, u32(cfg.max_position_embeddings));
  kv("llama.embedding_length", T.U32, u32(cfg.hidden_size));
  kv("llama.block_count", T.U32, u32(cfg.num_hidden_layers));
  kv("llama.feed_forward_length", T.U32, u32(cfg.intermediate_size));
  kv("llama.attention.head_count", T.U32, u32(heads));
  kv("llama.attention.head_count_kv", T.U32, u32(kvHeads));
  kv("llama.rope.freq_base", T.F32, f32(cfg.rope_theta ?? 10000));
  kv("llama.rope.dimension_count", T.U32, u32(headDim));
  kv("llama.attention.layer_norm_rms_epsilon", T.F32, f32(cfg.rms_norm_eps));
  kv("llama.vocab_size", T.U32, u32(cfg.vocab_size));

  const vocab = new Array(cfg.vocab_size).fill(null);
  const types = new Array(cfg.vocab_size).fill(5); // unused
  for (const [t, id] of Object.entries(tok.model.vocab)) { vocab[id] = t; types[id] = 1; }
  for (const a of tok.added_tokens) { vocab[a.id] = a.content; types[a.id] = a.special ? 3 : 4; }
  for (let i = 0; i < vocab.length; i++) if (vocab[i] === null) vocab[i] = `<unused${i}>`;
  const merges = tok.model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m));
  kv("tokenizer.ggml.model", T.STR, str("gpt2"));
  kv("tokenizer.ggml.pre", T.STR, str("default"));
  kv("tokenizer.ggml.tokens", T.ARR, arr(T.STR, vocab, str));
  kv("tokenizer.ggml.token_type", T.ARR, arr(T.I32, types, i32));
  kv("tokenizer.ggml.merges", T.ARR, arr(T.STR, merges, str));
  kv("tokenizer.ggml.bos_token_id", T.U32, u32(cfg.bos_token_id));
  kv("tokenizer.ggml.eos_token_id", T.U32, u32(cfg.eos_token_id));
  kv("tokenizer.ggml.add_bos_token", T.BOOL, Buffer.from([0]));

  const ggufName = (n) => n
    .replace("model.embed_tokens.weight", "token_embd.weight")
    .replace("model.norm.weight", "output_norm.weight")
    .replace("lm_head.weight", "output.weight")
    .replace(/^model\.layers\.(\d+)\./, "blk.$1.")
    .replace("self_attn.q_proj", "attn_q").replace("self_attn.k_proj", "attn_k")
    .replace("self_attn.v_proj", "attn_v").replace("self_attn.o_proj", "attn_output")
    .replace("mlp.gate_proj", "ffn_gate").replace("mlp.up_proj", "ffn_up").replace("mlp.down_proj", "ffn_down")
    .replace("input_layernorm", "attn_norm").replace("post_attention_layernorm", "ffn_norm");

  const infos = [], datas = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name];
    const vec = t.shape.length === 1;
    const outType = vec || dtype === "f32" ? "F32" : "BF16";
    let data;
    if (outType === "F32") data = t.dtype === "F32" ? Buffer.from(t.data) : Buffer.from(toF32(t).buffer);
    else if (t.dtype === "BF16") data = Buffer.from(t.data);
    else throw new Error(`${name}: cannot narrow ${t.dtype} to BF16 here`);
    if (!vec && /q_proj|k_proj/.test(name)) {
      data = permuteQK(data, name.includes("q_proj") ? heads : kvHeads, data.length / t.shape[0]);
    }
    const dims = [...t.shape].reverse(); // GGUF lists the fastest-varying dimension first
    infos.push(Buffer.concat([str(ggufName(name)), u32(dims.length), ...dims.map(u64),
      u32(outType === "F32" ? 0 : 30), u64(offset)]));
    datas.push(data);
    const pad = (ALIGN - (data.length % ALIGN)) % ALIGN;
    if (pad) datas.push(Buffer.alloc(pad));
    offset += data.length + pad;
  }
  chunks.push(Buffer.from("GGUF", "ascii"), u32(3), u64(infos.length), u64(kvs.length), ...kvs, ...infos);
  const headLen = chunks.reduce((a, b) => a + b.length, 0);
  chunks.push(Buffer.alloc((ALIGN - (headLen % ALIGN)) % ALIGN));
  const fd = fs.openSync(file, "w");
  for (const c of [...chunks, ...datas]) fs.writeSync(fd, c);
  fs.closeSync(fd);
}
