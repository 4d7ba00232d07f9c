# lambda-lens: the two commands are `make demo` and `make test`. Each installs what it needs.

SHELL := /bin/bash
CARGO ?= cargo
# The layer's binaries are static (musl): they run on every Lambda runtime's OS, old glibc or new.
# ARCH is Lambda's name for the architecture: x86_64 (the default) or arm64 (Graviton).
ARCH ?= x86_64
ifeq ($(ARCH),x86_64)
TARGET := x86_64-unknown-linux-musl
SUFFIX :=
else ifeq ($(ARCH),arm64)
TARGET := aarch64-unknown-linux-musl
SUFFIX := -arm64
else
$(error ARCH must be x86_64 or arm64, not "$(ARCH)")
endif
# arm64 is cross-linked with rust-lld, which ships with the Rust toolchain: the binaries have
# no C code, so no cross compiler or C library is needed.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER := rust-lld
RELEASE := target/$(TARGET)/release
LAYER := target/layer$(SUFFIX)
FUNCTION := target/function$(SUFFIX)
LAYER_ZIP := target/lambda-lens-layer-$(ARCH).zip
DEMO_OUT := target/demo

.PHONY: all toolchain build layer demo test lint fmt-check clippy unused-deps unit e2e size clean

all: layer

## Installs the Rust pieces the build needs (the musl target, rustfmt, clippy).
toolchain:
	@command -v rustup >/dev/null || { echo "rustup is needed (https://rustup.rs)"; exit 1; }
	@rustup target list --installed | grep -qx '$(TARGET)' || rustup target add $(TARGET)
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy

## Release builds of the extension and the sample function.
build: toolchain
	$(CARGO) build --locked --release --target $(TARGET) -p lambda-lens -p sample-function

## The layer for ARCH: the folder (extensions/lambda-lens, as Lambda finds it in
## /opt/extensions), the zip to publish (target/lambda-lens-layer-ARCH.zip, checked: one
## executable, static, for ARCH), and the sample function.
layer: build
	rm -rf $(LAYER) $(FUNCTION)
	mkdir -p $(LAYER)/extensions $(FUNCTION)
	cp $(RELEASE)/lambda-lens $(LAYER)/extensions/lambda-lens
	cp $(RELEASE)/bootstrap $(FUNCTION)/bootstrap
	python3 scripts/layer.py zip $(LAYER)/extensions/lambda-lens $(LAYER_ZIP)
	python3 scripts/layer.py check $(LAYER_ZIP) $(ARCH)

## What `sam build` calls for the template's two resources (BuildMethod: makefile): the layer
## and the function for ARCH (`ARCH=arm64 sam build --parameter-overrides Architecture=arm64`).
.PHONY: build-LambdaLensLayer build-SampleFunction
build-LambdaLensLayer: layer
	mkdir -p $(ARTIFACTS_DIR)/extensions
	cp $(LAYER)/extensions/lambda-lens $(ARTIFACTS_DIR)/extensions/lambda-lens

build-SampleFunction: layer
	cp $(FUNCTION)/bootstrap $(ARTIFACTS_DIR)/bootstrap

## The SAM tools (pinned in requirements-sam.txt) in the project's virtualenv.
VENV := .venv
$(VENV)/.installed: requirements-sam.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

## Pinned in requirements-test.txt: awslambdaric (AWS's runtime interface client for Python),
## which `lambda-sandbox local invoke` runs Python functions under, and cargo-lambda (with zig).
$(VENV)/.test-installed: requirements-test.txt $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

## template.yaml offline: sam validate --lint and cfn-lint, broken copies rejected, every metric
## the dashboard and alarms name emitted; then `sam build` (no Docker) and its artifacts' layout.
.PHONY: template-check
template-check: $(VENV)/.installed layer
	$(VENV)/bin/python scripts/check_template.py
	rm -rf .aws-sam
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(VENV)/bin/sam build --build-in-source
	test -x .aws-sam/build/LambdaLensLayer/extensions/lambda-lens
	test -x .aws-sam/build/SampleFunction/bootstrap
	python3 scripts/layer.py zip .aws-sam/build/LambdaLensLayer/extensions/lambda-lens target/sam-layer.zip
	python3 scripts/layer.py check target/sam-layer.zip x86_64

## Both architectures' layers.
.PHONY: layers
layers:
	$(MAKE) layer ARCH=x86_64
	$(MAKE) layer ARCH=arm64

## cargo-lambda users build the extension with `cargo lambda build --release --extension`: that
## build must keep producing an extension that works (one invocation in the sandbox, its EMF).
.PHONY: cargo-lambda-check
cargo-lambda-check: $(VENV)/.test-installed layer
	PATH="$(abspath $(VENV))/bin:$$PATH" $(CARGO) lambda build --release --extension --locked -p lambda-lens
	test -x target/lambda/extensions/lambda-lens
	$(CARGO) run --locked -q -p lambda-sandbox -- --bootstrap $(FUNCTION)/bootstrap --layer target/lambda \
		--env LAMBDA_LENS_OUTPUT=per-invocation '{}' | grep -q '"_aws"'
	@echo "cargo lambda build --extension: the extension registers and writes EMF"

## The README's layer-size table, from the zips both architectures build to.
.PHONY: layer-table
layer-table: layers
	python3 scripts/layer.py readme README.md target/lambda-lens-layer-x86_64.zip target/lambda-lens-layer-arm64.zip

## qemu-user runs the arm64 layer once in the sandbox during make test (Debian's package).
.PHONY: qemu
qemu:
	@command -v qemu-aarch64 >/dev/null || { apt-get update -q && apt-get install -y -q qemu-user; }

## Runs the sample function with the extension in the local sandbox and prints the metrics.
demo: layer
	$(CARGO) run --locked --release -q -p lambda-sandbox --bin lambda-lens-demo -- \
		--bootstrap $(FUNCTION)/bootstrap --layer $(LAYER) --out $(DEMO_OUT)

## Formatting, lints, unit tests and the end-to-end suites.
test: lint layers qemu template-check $(VENV)/.test-installed cargo-lambda-check
	@echo "make cost, short form (10 invocations a case, README untouched):"
	$(CARGO) run --locked --release -q -p lambda-sandbox --bin lambda-lens-cost -- \
		--bootstrap $(FUNCTION)/bootstrap --layer $(LAYER) --invocations 10 > /dev/null
	@echo "make bench, short form (one round, no peers; checks that every figure is measured, judges no timing):"
	$(CARGO) build --locked --release -q -p lambda-sandbox --bin lambda-lens-bench
	timeout 120 target/release/lambda-lens-bench --bootstrap $(FUNCTION)/bootstrap --layer $(LAYER) \
		--rounds 1 --invocations 10 --flood-batches 2 --ready-samples 1 --capped-invocations 5 --check > /dev/null
	LAMBDA_LENS_LAYER=$(abspath $(LAYER)) LAMBDA_LENS_BOOTSTRAP=$(abspath $(FUNCTION))/bootstrap \
		LAMBDA_LENS_LAYER_ARM64=$(abspath target/layer-arm64) \
		LAMBDA_SANDBOX_PYTHON=$(abspath $(VENV))/bin/python \
		$(CARGO) test --locked --workspace

lint: fmt-check clippy unused-deps deny

fmt-check: toolchain
	$(CARGO) fmt --all --check

clippy: toolchain
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

## Dependencies no crate uses (cargo-machete, pinned, built once into target/tools).
MACHETE_VERSION := 0.9.2
MACHETE := target/tools/bin/cargo-machete
$(MACHETE):
	$(CARGO) install --quiet --locked --version $(MACHETE_VERSION) --root target/tools cargo-machete

unused-deps: $(MACHETE)
	$(MACHETE)

## Licenses, bans and sources of every dependency (deny.toml; cargo-deny pinned, built once).
DENY_VERSION := 0.20.2
DENY := target/tools/bin/cargo-deny
$(DENY):
	$(CARGO) install --quiet --locked --version $(DENY_VERSION) --root target/tools cargo-deny

.PHONY: deny audit
deny: $(DENY)
	$(DENY) --log-level error check licenses bans sources

## Known vulnerabilities (RustSec): needs to fetch the advisory database, so not in make test.
audit: $(DENY)
	$(DENY) check advisories

## The stripped size of the extension binary (the layer's).
size: build
	@ls -l $(RELEASE)/lambda-lens | awk '{print $$5 " bytes  $(RELEASE)/lambda-lens"}'

clean:
	$(CARGO) clean

## What lambda-lens costs its users: each output mode and metric set on the same workload in the
## sandbox, custom metrics and log bytes counted from what the extension wrote, priced beside
## CloudWatch Lambda Insights; rewrites the README's cost table. A few seconds once built.
.PHONY: cost
cost: layer
	$(CARGO) build --locked --release -q -p lambda-sandbox --bin lambda-lens-cost
	timeout 300 target/release/lambda-lens-cost --bootstrap $(FUNCTION)/bootstrap --layer $(LAYER) --readme README.md

## Fuzzing (cargo fuzz on nightly, both installed here when missing): the telemetry decoder,
## and the whole path from a body to EMF lines under a configuration the input chooses, each for
## FUZZ_SECONDS; prints executions and crashes. The short form in make test is the proptests.
FUZZ_SECONDS ?= 60
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ := target/tools/bin/cargo-fuzz
$(CARGO_FUZZ):
	$(CARGO) install --quiet --locked --version $(CARGO_FUZZ_VERSION) --root target/tools cargo-fuzz
.PHONY: fuzz
fuzz: $(CARGO_FUZZ)
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	PATH="$(abspath target/tools/bin):$$PATH" FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

## The soak: thousands of invocations with faults mixed in at random, then every check of
## tests/src/soak.rs (a short one runs in make test). About a minute for 3,000 once built.
SOAK_INVOCATIONS ?= 3000
SOAK_SEED ?= 21655257070
.PHONY: soak
soak: layer
	$(CARGO) build --locked --release -q -p lambda-sandbox --bin lambda-lens-soak
	timeout 900 target/release/lambda-lens-soak --bootstrap $(FUNCTION)/bootstrap --layer $(LAYER) \
		--invocations $(SOAK_INVOCATIONS) --seed $(SOAK_SEED)

## The peers `make bench` measures beside lambda-lens, built from the crate registry into
## target/bench-peers (issue 12): the floor (a no-op extension on the lambda-extension crate) and
## the crate's telemetry-processor pattern (tests/bench/peers, a workspace of their own with a
## Cargo.lock, musl like the layer), and opentelemetry-lambda-extension at a pinned version
## (cargo install --locked; glibc: it builds ring's C code; stripped into its layer). Each peer
## becomes a layer folder under target/bench-peers/layers.
OTEL_PEER_VERSION := 0.2.0
PEERS := target/bench-peers
PEER_LAYERS := $(PEERS)/layers
PEER_RELEASE := $(PEERS)/cargo/$(TARGET)/release
.PHONY: bench-peers
bench-peers: toolchain
	$(CARGO) build --locked --release -q --target $(TARGET) --manifest-path tests/bench/peers/Cargo.toml \
		--target-dir $(PEERS)/cargo
	$(CARGO) install --quiet --locked --version $(OTEL_PEER_VERSION) --root $(PEERS) opentelemetry-lambda-extension
	rm -rf $(PEER_LAYERS)
	mkdir -p $(PEER_LAYERS)/floor/extensions $(PEER_LAYERS)/crate-pattern/extensions \
		$(PEER_LAYERS)/opentelemetry/extensions
	cp $(PEER_RELEASE)/floor $(PEER_LAYERS)/floor/extensions/floor
	cp $(PEER_RELEASE)/crate-pattern $(PEER_LAYERS)/crate-pattern/extensions/crate-pattern
	strip -o $(PEER_LAYERS)/opentelemetry/extensions/opentelemetry-lambda-extension \
		$(PEERS)/bin/opentelemetry-lambda-extension

## Benchmarks: builds everything in release mode, runs the decode benchmark (in-process), then
## lambda-lens and every peer in the local sandbox in interleaved rounds (ready time, RSS idle
## and under a flood of 1 MiB batches, post-runtime duration and its tail, CPU, exit after
## SHUTDOWN, binary size, correctness on the same life), and writes the figures and issue 12's
## targets into BENCHMARKS.md (between its bench markers) and the headline into the README.
## About 3 minutes on 2 cores once built.
BENCH_ROUNDS ?= 5
BENCH_INVOCATIONS ?= 200
BENCH_FLOOD_BATCHES ?= 16
BENCH_OUT := target/bench
.PHONY: bench
bench: layer bench-peers
	mkdir -p $(BENCH_OUT)
	set -o pipefail; LAMBDA_LENS_BENCH_PROFILE="$(TARGET), as shipped" \
		$(CARGO) bench --locked -p lambda-lens --bench decode --target $(TARGET) | tee $(BENCH_OUT)/decode.md
	$(CARGO) build --locked --release -q -p lambda-sandbox --bin lambda-lens-bench
	timeout 900 target/release/lambda-lens-bench --bootstrap $(FUNCTION)/bootstrap --layer $(LAYER) \
		--peers $(PEER_LAYERS) --rounds $(BENCH_ROUNDS) --invocations $(BENCH_INVOCATIONS) \
		--flood-batches $(BENCH_FLOOD_BATCHES) --layer-zip $(LAYER_ZIP) --decode $(BENCH_OUT)/decode.md \
		--command "make bench BENCH_ROUNDS=$(BENCH_ROUNDS) BENCH_INVOCATIONS=$(BENCH_INVOCATIONS) BENCH_FLOOD_BATCHES=$(BENCH_FLOOD_BATCHES)" \
		--write BENCHMARKS.md --readme README.md
