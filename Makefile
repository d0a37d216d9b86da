# Energy Profiler. The two commands a fresh machine needs are `make run` and
# `make test`; the rest are building blocks.

GO        ?= go
# The engine's fast kernels use Go 1.26's simd/archsimd (AVX-512/AVX2);
# without the experiment they fall back to portable, much slower code.
export GOEXPERIMENT := simd
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X energyprofiler/backend/cli.Version=$(VERSION)
BIN       := bin/energyprofiler
DESKTOP   := build/bin/energyprofiler-desktop
HOST_OS   ?= $(shell uname -s)
# Linux desktop builds use WebKitGTK 4.1 (Debian 12+, Ubuntu 22.04+).
comma := ,
DESKTOP_TAGS := desktop,production$(if $(filter Linux,$(HOST_OS)),$(comma)webkit2_41)
# On macOS the desktop app is linked by plain go build, not `wails build`,
# so it passes what wails build would: Wails' darwin code uses UTType from
# UniformTypeIdentifiers, and the deployment target is Info.plist's
# LSMinimumSystemVersion (the installer tests check they agree).
MACOS_MIN := 12.0
ifeq ($(HOST_OS),Darwin)
DESKTOP_ENV := MACOSX_DEPLOYMENT_TARGET=$(MACOS_MIN) CGO_CFLAGS="-mmacosx-version-min=$(MACOS_MIN)" CGO_LDFLAGS="-framework UniformTypeIdentifiers -mmacosx-version-min=$(MACOS_MIN)"
endif

.PHONY: run test app bench bench-llamacpp build frontend frontend-deps go-test darwin-check test-arm64 frontend-test e2e desktop-smoke desktop-drop clean

## run: build everything, then start the dashboard server (the main job).
run: build
	./$(BIN) serve --demo-run

## build: the frontend, then the headless binary with the frontend embedded.
build: frontend
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./backend/cmd/energyprofiler

frontend-deps: frontend/node_modules/.package-lock.json
frontend/node_modules/.package-lock.json: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund

frontend: frontend-deps
	cd frontend && npm run build

## test: vet, unit tests with the race detector, the darwin cross-compile
## gate, the arm64 (NEON) kernels under qemu, frontend unit tests and browser
## end-to-end tests.
test: build go-test darwin-check test-arm64 frontend-test e2e

# The user's guide's Python scripts run in the server's tests; here they must
# (CI installs python3-requests and python3-pandas), elsewhere they may skip.
# The fuzzers run a fixed number of inputs, not a time: a time limit fails
# with "context deadline exceeded" when a loaded machine is slow to stop the
# fuzz workers at the deadline.
go-test:
	$(GO) vet ./...
	ENERGYPROFILER_GUIDE_SCRIPTS=required $(GO) test -race ./backend/...
	$(GO) test -run '^$$' -fuzz FuzzParseHeader -fuzztime 100000x ./backend/model/
	$(GO) test -run '^$$' -fuzz FuzzParseConfig -fuzztime 100000x ./backend/model/
	$(GO) test -run '^$$' -fuzz FuzzParseGGUF -fuzztime 100000x ./backend/model/

darwin-check:
	GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 $(GO) build ./backend/...
	GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 $(GO) vet ./backend/...

## test-arm64: the compute and engine tests built for arm64, where the NEON
## kernels run, executed by qemu's user-mode emulator (Debian's
## qemu-user-static). Test binaries run in their package folder, as go test does.
## qemu's default CPU model has dotprod, so the SDOT quantized kernels run
## (the tests fail if it had not); a Cortex-A72 model (ARMv8.0, no dotprod)
## then checks the quantized products' fallback to the portable kernels.
## The Metal backend's tests on the GGUF files and on the MSL runner run
## natively in go-test only (they use no arm64 kernels, and are slow emulated).
ARM64_TESTS := build/arm64
ARM64_SKIP  := ^TestMetalGGUFFixtures|OnMSL$$
test-arm64:
	@command -v qemu-aarch64-static >/dev/null || { echo "test-arm64 needs qemu-aarch64-static: apt-get install qemu-user-static"; exit 1; }
	mkdir -p $(ARM64_TESTS)
	GOARCH=arm64 $(GO) test -c -o $(ARM64_TESTS)/compute.test ./backend/engine/compute
	GOARCH=arm64 $(GO) test -c -o $(ARM64_TESTS)/engine.test ./backend/engine
	cd backend/engine/compute && ENERGYPROFILER_ARM64_DOTPROD=required qemu-aarch64-static $(CURDIR)/$(ARM64_TESTS)/compute.test -test.v -test.run 'NEON|SDOT|Kernel'
	cd backend/engine/compute && ENERGYPROFILER_ARM64_DOTPROD=required qemu-aarch64-static $(CURDIR)/$(ARM64_TESTS)/compute.test
	cd backend/engine/compute && ENERGYPROFILER_ARM64_DOTPROD=absent qemu-aarch64-static -cpu cortex-a72 $(CURDIR)/$(ARM64_TESTS)/compute.test -test.run 'NEON|SDOT|Quant'
	cd backend/engine && qemu-aarch64-static $(CURDIR)/$(ARM64_TESTS)/engine.test -test.v -test.run '^TestGGUFFixturesGreedy$$'
	cd backend/engine && qemu-aarch64-static $(CURDIR)/$(ARM64_TESTS)/engine.test -test.skip '$(ARM64_SKIP)'

frontend-test: frontend-deps
	cd frontend && npx vitest run

e2e: build
	cd frontend && node --test e2e/

## app: the Wails desktop app for this machine. On macOS it also builds the
## powermetrics helper and the CLI and assembles build/bin/Energy Profiler.app
## (see docs/macos.md for signing and notarization).
app: frontend
	$(DESKTOP_ENV) $(GO) build -tags $(DESKTOP_TAGS) -ldflags "-s -w $(LDFLAGS)" -o $(DESKTOP) .
ifeq ($(HOST_OS),Darwin)
	CGO_ENABLED=0 $(GO) build -ldflags "-s -w" -o build/bin/energyprofiler-helper ./backend/helper/cmd/energyprofiler-helper
	CGO_ENABLED=0 $(GO) build -ldflags "-s -w $(LDFLAGS)" -o build/bin/energyprofiler ./backend/cmd/energyprofiler
	build/darwin/make-app.sh $(DESKTOP) build/bin/energyprofiler-helper build/bin/energyprofiler "build/bin/Energy Profiler.app"
endif

## desktop-smoke: launch the desktop app under Xvfb and screenshot it.
desktop-smoke: app
	.ci/desktop-smoke $(DESKTOP) build/desktop-smoke.png

## desktop-drop: drag a model folder onto the desktop window under Xvfb and
## check that it was profiled.
desktop-drop: app build
	.ci/desktop-drop $(DESKTOP) $(BIN) build/desktop-drop.png

## bench: Go benchmarks (engine decode against the measured memory roofline,
## on the demos and on a TinyLlama-1.1B-shaped model it writes first, 512-token
## prefill against the measured compute peak, kernels, sampler overhead,
## storage).
bench:
	$(GO) test -run '^$$' -bench . ./backend/...

## bench-llamacpp: optional (not part of test): llama.cpp from npm's prebuilt
## CPU binaries against our engine on the same demo weights: demo-110m-gqa in
## bf16 and as the quantized demo GGUF files (Q8_0, Q4_0, Q4_K_M, which both
## engines load as they are), round-robin in one run, with a table of the
## ratios; then f32 (see backend/engine/llamacppbench/bench.mjs).
## On a shared, busy host LLAMACPP_THREADS=1 is steadier: ggml's threads
## spin at barriers, which collapses when other processes take the cores.
LLAMACPP_BENCH := backend/engine/llamacppbench
LLAMACPP_THREADS ?= 2
LLAMACPP_ROUNDS ?= 5
BENCH_MODELS := $(CURDIR)/build/bench-models
# npm install --no-save, not npm ci: node-llama-cpp lists every platform's
# binaries as optional dependencies, which the lock cannot all hold here.
bench-llamacpp: build
	cd $(LLAMACPP_BENCH) && npm install --no-save --no-audit --no-fund --omit=optional --ignore-scripts
	./$(BIN) models demo --dir $(BENCH_MODELS)
	cd $(LLAMACPP_BENCH) && node bench.mjs --bin $(CURDIR)/$(BIN) --threads $(LLAMACPP_THREADS) --rounds $(LLAMACPP_ROUNDS) \
		--models bf16=$(BENCH_MODELS)/demo-110m-gqa,$(BENCH_MODELS)/demo-110m-gqa-q8_0.gguf,$(BENCH_MODELS)/demo-110m-gqa-q4_0.gguf,$(BENCH_MODELS)/demo-110m-gqa-q4_k_m.gguf
	cd $(LLAMACPP_BENCH) && node bench.mjs --bin $(CURDIR)/$(BIN) --threads $(LLAMACPP_THREADS) --rounds $(LLAMACPP_ROUNDS) \
		--models f32=$(BENCH_MODELS)/demo-110m-gqa

clean:
	rm -rf bin build/bin build/e2e-shots build/arm64 frontend/dist/app
