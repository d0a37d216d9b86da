// Package model loads Hugging Face model folders: config.json (and
// generation_config.json) for the llama, mistral, qwen2, qwen3, phi3 and gemma3
// families and the mixture-of-experts mixtral, qwen2_moe and qwen3_moe, and
// their safetensors weights, single-file or sharded. It also loads GGUF files
// (llama.cpp's format, gguf.go): the header parsed and validated
// (ParseGGUF), the config built from the metadata keys (ConfigFromGGUF), the
// tensors presented under the Hugging Face names with llama's permuted q/k
// rows put back in Hugging Face order, so the engine sees one kind of model.
// GGUF tensors may be quantized (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K: see
// DType.Block); their blocks are decoded by package compute. GGUFWriter
// writes GGUF files (the quantized demo models, tests).
//
// Weights stay in their stored precision (F32, F16 or BF16) and are
// memory-mapped read-only: a [Tensor]'s Data aliases the mapping, so opening a
// multi-gigabyte model costs address space, not a second copy in memory.
// Everything read from disk is validated before use, and every error names the
// file, the tensor and what was expected.
//
// The package also derives architecture facts from the config alone
// ([Config.Facts]: parameter counts, KV-cache size, FLOPs per token), writes
// safetensors files ([Writer]) and converts between float32 and the 16-bit
// float formats ([Float32ToBF16], [BF16ToFloat32], [Float32ToF16],
// [F16ToFloat32], [DecodeFloat32s], [EncodeFloat32s]).
//
// Typical use by an inference engine:
//
//	m, err := model.Open(dir)   // a folder, or a .gguf file
//	if err != nil { ... }
//	defer m.Close()
//	emb := m.Embedding()          // [vocab, hidden]
//	for i := range m.Config.NumLayers {
//		l := m.Layer(i)            // Q, K, V, O, Gate, Up, Down, norms, biases
//		...
//	}
//	head := m.LMHead()             // the embedding when tied
package model
