// Measures llama.cpp and Energy Profiler's engine on the same model files in
// one run, round-robin, and prints each round's ratios and a table of the
// medians per model.
//
// llama.cpp comes prebuilt from npm (node-llama-cpp's CPU binaries, which
// pick a ggml CPU variant for this processor at load time); our engine runs
// through the product's own CLI (`energyprofiler generate --json`). Both get
// the same token ids: a 512-token prompt, then 48 decode steps, on the same
// number of threads.
//
// Each --models entry is either a .gguf file (the quantized demos: both
// engines load that very file) or TYPE=DIR, a demo's safetensors folder in
// bf16 or f32: the folder's weights are written to a GGUF file of that type
// (Q and K rows permuted the way llama.cpp's converter does) for llama.cpp,
// and our engine reads the folder, so both multiply the same numbers.
// A round runs every model once on each engine, in turn, so each ratio
// compares two runs a few seconds apart under the same machine load.
//
//	node bench.mjs --bin ../../../bin/energyprofiler
//	               --models bf16=DEMO_DIR,DEMO-q8_0.gguf,DEMO-q4_0.gguf,DEMO-q4_k_m.gguf
//	               [--rounds 5] [--prompt 512] [--decode 48] [--threads 2]
//
// `make bench-llamacpp` runs it on demo-110m-gqa in bf16, Q8_0, Q4_0 and
// Q4_K_M, then in f32.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const args = parseArgs(process.argv.slice(2), {
  bin: "", models: "", rounds: "5", prompt: "512", decode: "48", threads: "2",
});
if (!args.bin || !args.models) {
  console.error("usage: node bench.mjs --bin ENERGYPROFILER --models bf16=DEMO_DIR,FILE.gguf,... [--rounds N]");
  process.exit(2);
}
const rounds = +args.rounds, promptLen = +args.prompt, decodeLen = +args.decode, threads = +args.threads;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "ep-llamacpp-"));

// Each model: a label, the file llama.cpp loads, the path our engine loads.
const models = args.models.split(",").filter(Boolean).map((spec) => {
  if (spec.endsWith(".gguf")) {
    if (!fs.existsSync(spec)) throw new Error(`${spec}: no such file`);
    const label = ggufFileType(spec);
    return { label, name: path.basename(spec), gguf: spec, ours: spec };
  }
  const m = /^(bf16|f32)=(.+)$/.exec(spec);
  if (!m) throw new Error(`--models entry ${spec}: want FILE.gguf, bf16=DIR or f32=DIR`);
  const [, dtype, dir] = m;
  const hf = readSafetensors(path.join(dir, "model.safetensors"));
  const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  const tokenizer = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
  // Our engine reads a model folder: for f32, a copy with the weights widened.
  let ours = dir;
  if (dtype === "f32") {
    ours = path.join(work, `${path.basename(dir)}-f32`);
    fs.mkdirSync(ours);
    for (const f of ["config.json", "tokenizer.json", "generation_config.json", "DEMO_MODEL.txt"]) {
      if (fs.existsSync(path.join(dir, f))) fs.copyFileSync(path.join(dir, f), path.join(ours, f));
    }
    writeSafetensorsF32(path.join(ours, "model.safetensors"), hf);
  }
  const gguf = path.join(work, `${path.basename(dir)}-${dtype}.gguf`);
  writeGGUF(gguf, hf, config, tokenizer, dtype, path.basename(dir));
  return { label: dtype.toUpperCase(), name: path.basename(dir), gguf, ours };
});

const ids = Array.from({ length: promptLen }, (_, i) => (i * 7919 + 13) % 1000);

const logs = [];
const llama = await getLlama({
  gpu: false, build: "never", usePrebuiltBinaries: true, progressLogs: false,
  logLevel: LlamaLogLevel.debug,
  logger: (level, message) => { logs.push(message.trim()); },
});
for (const m of models) {
  const seen = logs.length;
  m.model = await llama.loadModel({ modelPath: m.gguf, gpuLayers: 0 }).catch((e) => {
    console.error(logs.slice(seen).slice(-15).join("\n"));
    throw new Error(`llama.cpp cannot load ${m.gguf}: ${e.message}`);
  });
  m.context = await m.model.createContext({
    contextSize: 1024, batchSize: promptLen, threads: { ideal: threads, min: threads }, sequences: 1,
  });
  m.sequence = m.context.getSequence();
  m.rows = [];
}
const variant = logs.find((l) => /load_backend|CPU backend|libggml-cpu/.test(l)) ?? "(not logged)";
const features = logs.find((l) => /system_info|CPU :/.test(l)) ?? "";

async function llamaRound(m) {
  const sequence = m.sequence;
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

function oursRound(m) {
  const r = spawnSync(args.bin, [
    "generate", "--model", m.ours, "--ids", ids.join(","), "--max-tokens", String(decodeLen),
    "--ignore-eos", "--greedy", "--threads", String(threads), "--context", "1024", "--json",
  ], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`energyprofiler generate ${m.ours} failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout);
  return { prefill: j.prefill_tokens_per_second, decode: j.decode_tokens_per_second, backend: j.backend };
}

const loadAvg = () => os.loadavg()[0].toFixed(1);
const loads = [loadAvg()];
for (const m of models) { // warm up: page in both engines' files
  await llamaRound(m);
  m.backend = oursRound(m).backend;
}
const x = (o, l) => (o / l).toFixed(2);
for (let i = 0; i < rounds; i++) {
  for (const m of models) {
    const l = await llamaRound(m);
    const o = oursRound(m);
    m.rows.push({ l, o });
    console.log(`round ${i + 1} ${m.label.padEnd(6)}: prefill ${promptLen}: llama.cpp ${l.prefill.toFixed(0)}, ours ${o.prefill.toFixed(0)} tok/s (x${x(o.prefill, l.prefill)}); ` +
      `decode: llama.cpp ${l.decode.toFixed(1)}, ours ${o.decode.toFixed(1)} tok/s (x${x(o.decode, l.decode)})`);
  }
  loads.push(loadAvg());
}

const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const spread = (xs) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
const version = JSON.parse(fs.readFileSync(new URL("./node_modules/node-llama-cpp/package.json", import.meta.url))).version;
console.log(`\n${threads} threads, ${rounds} rounds, round-robin; CPU: ${cpuName()}; ${new Date().toISOString()}`);
console.log(`load average (1 min) before and after each round: ${loads.join(", ")}`);
console.log(`llama.cpp: node-llama-cpp ${version}; ${variant}`);
if (features) console.log(`  ${features}`);
console.log(`ours: ${[...new Set(models.map((m) => m.backend))].join("; ")}`);
// Medians of each engine's rates and of the per-round ratios (the ratio's
// spread over rounds in brackets).
console.log("");
console.log(`| model | type | prefill ${promptLen} llama.cpp | ours | ratio | decode llama.cpp | ours | ratio |`);
console.log("|---|---|--:|--:|--:|--:|--:|--:|");
for (const m of models) {
  const cells = [m.name, m.label];
  for (const [key, digits] of [["prefill", 0], ["decode", 1]]) {
    const ratios = m.rows.map((r) => r.o[key] / r.l[key]);
    cells.push(med(m.rows.map((r) => r.l[key])).toFixed(digits), med(m.rows.map((r) => r.o[key])).toFixed(digits),
      `${med(ratios).toFixed(2)} (${spread(ratios)})`);
  }
  console.log(`| ${cells.join(" | ")} |`);
}

for (const m of models) {
  await m.context.dispose();
  await m.model.dispose();
}
fs.rmSync(work, { recursive: true, force: true });

function cpuName() {
  const c = os.cpus();
  return c.length ? `${c[0].model.trim()} × ${c.length}` : "unknown";
}

// ggufFileType names a GGUF file's general.file_type (llama_ftype) as
// llama.cpp does; only the header and metadata are read.
function ggufFileType(file) {
  const names = { 0: "F32", 1: "F16", 2: "Q4_0", 7: "Q8_0", 15: "Q4_K_M", 17: "Q5_K_M", 18: "Q6_K", 32: "BF16" };
  const fd = fs.openSync(file, "r");
  const buf = Buffer.alloc(1 << 16);
  fs.readSync(fd, buf, 0, buf.length, 0);
  fs.closeSync(fd);
  if (buf.toString("ascii", 0, 4) !== "GGUF") throw new Error(`${file}: not a GGUF file`);
  const nkv = Number(buf.readBigUInt64LE(16));
  let p = 24;
  const str = () => { const n = Number(buf.readBigUInt64LE(p)); const s = buf.toString("utf8", p + 8, p + 8 + n); p += 8 + n; return s; };
  const size = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const skip = (t) => {
    if (t === 8) { str(); return; }
    if (t === 9) {
      const et = buf.readUInt32LE(p), n = Number(buf.readBigUInt64LE(p + 4));
      p += 12;
      for (let i = 0; i < n; i++) skip(et);
      return;
    }
    if (!(t in size)) throw new Error(`${file}: metadata type ${t}`);
    p += size[t];
  };
  try {
    for (let i = 0; i < nkv; i++) {
      const key = str();
      const t = buf.readUInt32LE(p);
      p += 4;
      if (key === "general.file_type") { const v = buf.readUInt32LE(p); return names[v] ?? `ftype ${v}`; }
      skip(t);
    }
  } catch (e) {
    if (!(e instanceof RangeError)) throw e; // the key lies past the first 64 KiB
  }
  return path.basename(file, ".gguf");
}

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
function writeGGUF(file, tensors, cfg, tok, dtype, modelName) {
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
  kv("general.name", T.STR, str(`energyprofiler ${modelName}`));
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
