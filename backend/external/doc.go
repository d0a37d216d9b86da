// Package external is the client for inference servers that run in another
// process: OpenAI-compatible servers (llama.cpp's server, vLLM, LM Studio,
// MLX, TGI, and Energy Profiler's own /v1) and ollama's native API. It owns
// saved endpoints (endpoints.json, with keys read from the environment and
// never stored), model discovery (GET /models, GET /api/tags, and an
// ollama on its default port found without configuration), whether a
// server is on this machine, the streaming protocols (server-sent events
// with [DONE] and include_usage; ollama's JSON lines), and how one streamed
// request becomes a profiled run.
//
// # What a server run measures
//
// Every time is read from the profiler's monotonic clock on this side of
// the connection:
//
//	pre-inference   request start → response headers
//	prefill         response headers → first chunk with text (time to first token)
//	decode          first → last chunk with text
//	post-inference  last chunk with text → end of stream
//
// Each chunk that carries text is one or more tokens. A chunk's interval
// runs from the previous chunk's arrival (the headers, for the first) to
// its own; a chunk carrying n tokens splits its interval evenly into n
// token windows, and each token records its chunk and n.
//
// Token counts come from the server when it reports them and the report is
// believable (usage in the last SSE chunk, vLLM's per-chunk usage, ollama's
// prompt_eval_count and eval_count, llama.cpp's timings.predicted_n), else
// from counting chunks (one token per chunk). A report is not believed when
// it is negative, when it gives fewer output tokens than there were chunks
// with text, more than max_tokens, or more than the text's bytes plus one
// per chunk (no token is shorter than a byte); the run then notes what the
// server claimed. When the report is believed and exceeds the chunks, the
// extra tokens go to chunks in proportion to their text's length. Prompt
// tokens are taken only from the server (they cannot be counted here
// without the server's tokenizer); otherwise they are unavailable.
//
// A request that fails (refused, 429 or 500 before the stream, an error
// event or a cut connection during it, a server silent for longer than the
// stall timeout) ends its run as failed with the error and keeps what was
// measured up to then; a cancelled request ends it as cancelled. Nothing is
// left half-written: the run is stored once, complete, by the profiler.
package external
