# lambda-lens: the two commands are `make demo` and `make test`. Each installs what it needs.
# `make check` is the every-edit loop: formatting, clippy and every test that needs only rustup.

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
# arm64 is cross-linked with rust-lld, which ships with the Rust toolchain: the default layer's
# binaries have no C code, so no cross compiler or C library is needed.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER := rust-lld
# SINK is the layer variant: emf (the default: EMF on stdout only) or put-metric-data (also the
# PutMetricData sink, the extension's cargo feature `put-metric-data`; LAMBDA_LENS_SINK chooses
# at run time).
SINK ?= emf
ifeq ($(SINK),emf)
FEATURES :=
SINK_SUFFIX :=
# The default layer's budget (scripts/layer.py): 1.8 MB, so make test fails on a regression past it.
LAYER_MAX_BYTES := 1800000
else ifeq ($(SINK),put-metric-data)
FEATURES := --features lambda-lens/put-metric-data
SINK_SUFFIX := -put-metric-data
LAYER_MAX_BYTES := 6000000
else ifeq ($(SINK),otlp)
# The OTLP variant (LAMBDA_LENS_SINK=otlp, alone or with emf): no AWS SDK, so about a third
# smaller than the PutMetricData variant, which is why it is a variant of its own; its budget
# (the executable's bytes, as scripts/layer.py checks) is 3.2 MB (BENCHMARKS.md's size table).
FEATURES := --features lambda-lens/otlp
SINK_SUFFIX := -otlp
LAYER_MAX_BYTES := 3200000
else
$(error SINK must be emf, put-metric-data or otlp, not "$(SINK)")
endif
# The put-metric-data variant's TLS (rustls with ring) has C and assembly: built with the host's
# cc for x86_64 and with clang for arm64 (ring needs no C library headers for musl targets with
# clang).
export CC_x86_64_unknown_linux_musl ?= cc
export CC_aarch64_unknown_linux_musl ?= clang
export AR_aarch64_unknown_linux_musl ?= llvm-ar
RELEASE := target/$(TARGET)/release
# The extension is built with the `layer` profile (Cargo.toml: release without unwinding).
LAYER_RELEASE := target/$(TARGET)/layer
# The layers live in target/layers, a folder cargo does not use: `make layer` empties the
# variant's folder, and target/layer is the `layer` profile's own, where cargo keeps its build
# scripts and proc-macros (emptying it rebuilt the extension's whole dependency tree each time).
LAYERS := target/layers
LAYER := $(LAYERS)/$(ARCH)$(SINK_SUFFIX)
FUNCTION := target/function$(SUFFIX)
LAYER_ZIP := $(LAYERS)/lambda-lens-layer-$(ARCH)$(SINK_SUFFIX).zip
DEMO_OUT := target/demo

.PHONY: all toolchain build layer demo check test lint fmt-check clippy unit-tests all-tests unused-deps size clean chromium

all: layer

## Installs the Rust pieces the build needs (the musl target, rustfmt, clippy).
toolchain:
	@command -v rustup >/dev/null || { echo "rustup is needed (https://rustup.rs)"; exit 1; }
	@rustup target list --installed | grep -qx '$(TARGET)' || rustup target add $(TARGET)
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy

## C compilers for the put-metric-data variant's TLS code (Debian's clang and llvm for arm64).
.PHONY: cc-tools
cc-tools:
ifeq ($(SINK)-$(ARCH),put-metric-data-arm64)
	@command -v clang >/dev/null && command -v llvm-ar >/dev/null || { apt-get update -q && apt-get install -y -q clang llvm; }
else ifeq ($(SINK)-$(ARCH),otlp-arm64)
	@command -v clang >/dev/null && command -v llvm-ar >/dev/null || { apt-get update -q && apt-get install -y -q clang llvm; }
else ifneq ($(SINK),emf)
	@command -v cc >/dev/null || { apt-get update -q && apt-get install -y -q gcc; }
endif

## cargo-auditable (pinned, built once into target/tools) builds the layer's extension: its
## dependency list (each crate's name, version and source) travels in the binary, a compressed
## JSON section `.dep-v0` that scanners read (`cargo audit bin`, trivy, syft, rust-audit-info).
## Its cost is in BENCHMARKS.md's size levers.
AUDITABLE_VERSION := 0.7.7
AUDITABLE := target/tools/bin/cargo-auditable
$(AUDITABLE):
	$(CARGO) install --quiet --locked --version $(AUDITABLE_VERSION) --root target/tools cargo-auditable

# The layer's binary does not depend on where it was built: the paths of the crates' sources
# (under CARGO_HOME) and of the checkout, which panic locations carry, are written as fixed
# prefixes, so another checkout or machine with the same toolchain builds the same bytes.
CARGO_HOME_DIR := $(or $(CARGO_HOME),$(HOME)/.cargo)
LAYER_RUSTFLAGS := --remap-path-prefix=$(CARGO_HOME_DIR)=/cargo --remap-path-prefix=$(CURDIR)=/lambda-lens

## Release builds of the extension and the sample function, apart: built together, cargo would
## unify their dependencies' features, and the sample function's (lambda_runtime's tracing, which
## turns on `tracing`'s `log` fallback at every log call) would cost the extension ~74 KB.
build: toolchain cc-tools $(AUDITABLE)
	PATH="$(abspath $(dir $(AUDITABLE))):$$PATH" RUSTFLAGS="$(LAYER_RUSTFLAGS)" \
		$(CARGO) auditable build --locked --profile layer --target $(TARGET) -p lambda-lens $(FEATURES)
	$(CARGO) build --locked --release --target $(TARGET) -p sample-function

## The layer for ARCH and SINK: the folder (extensions/lambda-lens, as Lambda finds it in
## /opt/extensions; target/layers/ARCH[-put-metric-data]), the zip to publish
## (target/layers/lambda-lens-layer-ARCH[-put-metric-data].zip, checked: one executable, static,
## for ARCH, within the variant's size budget), and the sample function (target/function[-arm64]).
layer: build
	rm -rf $(LAYER) $(FUNCTION) $(LAYER_ZIP)
	mkdir -p $(LAYER)/extensions $(FUNCTION)
	cp $(LAYER_RELEASE)/lambda-lens $(LAYER)/extensions/lambda-lens
	cp $(RELEASE)/bootstrap $(FUNCTION)/bootstrap
	python3 scripts/layer.py zip $(LAYER)/extensions/lambda-lens $(LAYER_ZIP)
	python3 scripts/layer.py check $(LAYER_ZIP) $(ARCH) $(LAYER_MAX_BYTES)

## What `sam build` calls for the template's two resources (BuildMethod: makefile): the layer
## and the function for ARCH (`ARCH=arm64 sam build --parameter-overrides Architecture=arm64`).
.PHONY: build-LambdaLensLayer build-SampleFunction
build-LambdaLensLayer: layer
	mkdir -p $(ARTIFACTS_DIR)/extensions
	cp $(LAYER)/extensions/lambda-lens $(ARTIFACTS_DIR)/extensions/lambda-lens

build-SampleFunction: layer
	cp $(FUNCTION)/bootstrap $(ARTIFACTS_DIR)/bootstrap

## The template's OTLP layer (LambdaLensOtlpLayer, deployed when its Sink has otlp): the layer
## built with SINK=otlp for ARCH.
.PHONY: build-LambdaLensOtlpLayer
build-LambdaLensOtlpLayer:
	$(MAKE) layer SINK=otlp
	mkdir -p $(ARTIFACTS_DIR)/extensions
	cp $(LAYERS)/$(ARCH)-otlp/extensions/lambda-lens $(ARTIFACTS_DIR)/extensions/lambda-lens

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

## AWS's runtime interface client for Node.js (aws-lambda-ric, pinned with its lockfile in
## sandbox/node-ric), which `lambda-sandbox local invoke` runs nodejs functions under, installed
## there by `npm ci`. Its install scripts build curl and aws-lambda-cpp from the sources the package
## ships and a native addon with node-gyp (against the running Node's own headers: nothing is
## Node.js 20 or newer, which cdk/ (its engines, aws-cdk-lib), aws-lambda-ric and the node suite
## need: PATH's node when it is 20 or newer, else (or with NODE_FETCH=1) the pinned Node.js 20 and
## npm from the npm registry (node-linux-<arch>, checked against their sha512) in target/tools/node,
## whose bin the recipes that run node or npm put first on PATH ($(WITH_NODE)).
NODE_DIR := $(abspath target/tools/node)
NODE_PATH_OK := $(shell node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2>/dev/null && echo yes)
ifeq ($(NODE_PATH_OK)$(NODE_FETCH),yes)
NODE := $(shell command -v node)
WITH_NODE :=
else
NODE := $(NODE_DIR)/bin/node
WITH_NODE := PATH="$(NODE_DIR)/bin:$$PATH"
endif
.PHONY: node
ifeq ($(WITH_NODE),)
node:
else
node: $(NODE_DIR)/.installed
endif
$(NODE_DIR)/.installed: scripts/fetch_node.py
	python3 scripts/fetch_node.py $(NODE_DIR)
	touch $@

## downloaded but the npm packages), which needs Node.js and npm (make node), cmake, autoconf,
## automake, libtool, make, g++ and python3: Debian's packages, installed with apt-get when missing.
NODE_RIC := sandbox/node-ric
.PHONY: node-ric node-ric-tools
node-ric: $(NODE_RIC)/node_modules/.installed
node-ric-tools: node
	@command -v cmake >/dev/null && command -v autoreconf >/dev/null && command -v automake >/dev/null \
		&& command -v libtoolize >/dev/null && command -v g++ >/dev/null && command -v make >/dev/null \
		&& command -v python3 >/dev/null \
		|| { apt-get update -q && apt-get install -y -q cmake autoconf automake libtool make g++ python3; }
$(NODE_RIC)/node_modules/.installed: $(NODE_RIC)/package.json $(NODE_RIC)/package-lock.json | node-ric-tools node
	cd $(NODE_RIC) && $(if $(WITH_NODE),export $(WITH_NODE) &&) prefix="$$(node -p 'require("path").resolve(process.execPath, "../..")')" \
		&& if [ -f "$$prefix/include/node/common.gypi" ]; then export npm_config_nodedir="$$prefix"; fi \
		&& npm ci --no-audit --no-fund --loglevel=error
	test -f $(NODE_RIC)/node_modules/aws-lambda-ric/dist/rapid-client.node
	touch $@

## The local CloudWatch (ministack, pinned in requirements-cloudwatch.txt) for the PutMetricData
## suites (local_cloudwatch), in a virtualenv of its own: ministack pins botocore to a
## version that the SAM CLI's pinned boto3 refuses, so the two cannot share .venv.
CLOUDWATCH_VENV := .venv-cloudwatch
.PHONY: cloudwatch-venv
cloudwatch-venv: $(CLOUDWATCH_VENV)/.installed
$(CLOUDWATCH_VENV)/.installed: requirements-cloudwatch.txt
	python3 -m venv $(CLOUDWATCH_VENV)
	$(CLOUDWATCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-cloudwatch.txt
	touch $@

## Publishing the layers in AWS regions (make publish): boto3, pinned in requirements-publish.txt,
## in a virtualenv of its own.
PUBLISH_VENV := .venv-publish
$(PUBLISH_VENV)/.installed: requirements-publish.txt
	python3 -m venv $(PUBLISH_VENV)
	$(PUBLISH_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-publish.txt
	touch $@

## make publish REGIONS="eu-west-1 us-east-1" [PRINCIPAL='*' | PRINCIPAL=<account> | ORG=o-...]
## [VARIANTS="emf put-metric-data"] (the SINK values; otlp too): each one's layer for both architectures in each
## region (scripts/publish.py; AWS_ENDPOINT_URL and the usual credentials honoured), a version
## holding the same bytes reused, lambda:GetLayerVersion granted to PRINCIPAL or ORG (nobody by
## default), and the ARNs in dist/layers.json. The zips are make release's (dist/) for this
## version, else the ones make layers builds (built here when dist/ lacks them).
REGIONS ?=
PRINCIPAL ?=
ORG ?=
VARIANTS ?= emf put-metric-data
PUBLISH_DIST ?= dist
## A tree with uncommitted changes is refused unless PUBLISH_ALLOW_DIRTY=1 (then the layers'
## Description says <commit>+uncommitted-changes).
PUBLISH_ALLOW_DIRTY ?=
.PHONY: publish publish-test
publish: $(PUBLISH_VENV)/.installed
	@$(PUBLISH_VENV)/bin/python scripts/publish.py --zips-in-dist --dist $(PUBLISH_DIST) --variants "$(VARIANTS)" \
		|| for sink in $(VARIANTS); do for arch in x86_64 arm64; do \
			$(MAKE) --no-print-directory layer ARCH=$$arch SINK=$$sink || exit 1; done; done
	PUBLISH_ALLOW_DIRTY="$(PUBLISH_ALLOW_DIRTY)" $(PUBLISH_VENV)/bin/python scripts/publish.py --regions "$(REGIONS)" --principal "$(PRINCIPAL)" --org "$(ORG)" \
		--variants "$(VARIANTS)" --dist $(PUBLISH_DIST)

## make publish against a local Lambda API (ministack, make cloudwatch-venv): two regions, the
## manifest, a second run, grants, refused permissions and an unknown region, a dirty tree, concurrent
## runs, a grant left by an earlier run, and this Makefile's publish recipe (scripts/test_publish.py).
publish-test: $(PUBLISH_VENV)/.installed cloudwatch-venv
	LAMBDA_LENS_CLOUDWATCH_VENV=$(abspath $(CLOUDWATCH_VENV)) $(PUBLISH_VENV)/bin/python -m unittest -v scripts/test_publish.py

## template.yaml offline: sam validate --lint and cfn-lint, broken copies rejected, every metric
## the dashboard and alarms name emitted; monitor.yaml the same way (scripts/check_monitor.py, run by
## check_template.py: its loops expanded, template.yaml's thresholds, alarms and dashboard for each
## function); then `sam build` (no Docker) and its artifacts' layout.
.PHONY: template-check
template-check: $(VENV)/.installed layer
	$(VENV)/bin/python scripts/check_template.py
	rm -rf .aws-sam
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(VENV)/bin/sam build --build-in-source
	test -x .aws-sam/build/LambdaLensLayer/extensions/lambda-lens
	test -x .aws-sam/build/LambdaLensOtlpLayer/extensions/lambda-lens
	test -x .aws-sam/build/SampleFunction/bootstrap
	python3 scripts/layer.py zip .aws-sam/build/LambdaLensLayer/extensions/lambda-lens target/sam-layer.zip
	python3 scripts/layer.py check target/sam-layer.zip x86_64

## Every layer variant (emf, put-metric-data, otlp) for both architectures: what the release
## packages. `make layers-put-metric-data` builds that variant alone, for both.
.PHONY: layers layers-put-metric-data
layers:
	$(MAKE) layer ARCH=x86_64
	$(MAKE) layer ARCH=arm64
	$(MAKE) layer ARCH=x86_64 SINK=put-metric-data
	$(MAKE) layer ARCH=arm64 SINK=put-metric-data
	$(MAKE) layer ARCH=x86_64 SINK=otlp
	$(MAKE) layer ARCH=arm64 SINK=otlp

layers-put-metric-data:
	$(MAKE) layer ARCH=x86_64 SINK=put-metric-data
	$(MAKE) layer ARCH=arm64 SINK=put-metric-data

## The CDK construct (cdk/): its npm packages pinned in cdk/package-lock.json, installed with
## npm ci into cdk/node_modules (nothing global), and compiled with the pinned TypeScript.
cdk/node_modules/.installed: cdk/package.json cdk/package-lock.json | node
	cd cdk && $(WITH_NODE) npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: cdk-build cdk-synth cdk-test
cdk-build: cdk/node_modules/.installed
	rm -rf cdk/lib
	cd cdk && $(WITH_NODE) node_modules/.bin/tsc -p .

## The example app's CloudFormation in target/cdk.out (the sample function on both
## architectures with the built layers; no AWS account needed), checked by cfn-lint. W3005:
## aws-cdk-lib's Function depends on its role beside the GetAtt that already orders them.
cdk-synth: cdk-build $(VENV)/.installed
	$(MAKE) layer ARCH=x86_64 SINK=emf
	$(MAKE) layer ARCH=arm64 SINK=emf
	rm -rf target/cdk.out
	$(WITH_NODE) $(NODE) cdk/lib/example/app.js target/cdk.out
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- target/cdk.out/LambdaLensExample.template.json

## The construct's tests (node's test runner, aws-cdk-lib's assertions, cdk-nag's AWS Solutions
## checks), after the synth, whose built layers and sample function they use.
cdk-test: cdk-synth
	cd cdk && $(WITH_NODE) $(NODE) --test lib/test/*.test.js

## Headless Chromium (Debian's package) opens the report's HTML page in make test.
chromium:
	@command -v chromium >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

## cargo-lambda users build the extension with `cargo lambda build --release --extension`: that
## build must keep producing an extension that works (one invocation in the sandbox, its EMF).
.PHONY: cargo-lambda-check
cargo-lambda-check: $(VENV)/.test-installed layer
	PATH="$(abspath $(VENV))/bin:$$PATH" $(CARGO) lambda build --release --extension --locked -p lambda-lens
	test -x target/lambda/extensions/lambda-lens
	$(CARGO) run --locked -q -p lambda-sandbox -- --bootstrap $(FUNCTION)/bootstrap --layer target/lambda \
		--env LAMBDA_LENS_OUTPUT=per-invocation '{}' | grep -q '"_aws"'
	@echo "cargo lambda build --extension: the extension registers and writes EMF"

## Debian's skopeo: reads make image's layout back without a daemon (and copies it to a registry).
.PHONY: skopeo image
skopeo:
	@command -v skopeo >/dev/null || { apt-get update -q && apt-get install -y -q skopeo; }

## The OCI image for container-image functions (`COPY --from=<image> /opt/extensions /opt/extensions`):
## FROM scratch with /opt/extensions/lambda-lens, for linux/amd64 and linux/arm64, written by
## scripts/oci_image.py (no container engine; reproducible) as an OCI image layout in
## target/image, tagged with the workspace's version (cargo metadata); skopeo then reads each
## platform's image back. Prints each platform's compressed layer size.
IMAGE := target/image
image: skopeo
	$(MAKE) layer ARCH=x86_64
	$(MAKE) layer ARCH=arm64
	rm -rf $(IMAGE)
	CARGO=$(CARGO) python3 scripts/oci_image.py extension $(IMAGE) \
		$(LAYERS)/x86_64/extensions/lambda-lens $(LAYERS)/arm64/extensions/lambda-lens
	tag=$$(python3 scripts/oci_image.py tag $(IMAGE)) && for arch in amd64 arm64; do \
		skopeo inspect --override-os linux --override-arch $$arch oci:$(IMAGE):$$tag \
			| grep -q "\"Architecture\": \"$$arch\"" || exit 1; done
	@echo "skopeo inspect oci:$(IMAGE):$$(python3 scripts/oci_image.py tag $(IMAGE)): linux/amd64 and linux/arm64"

## The README's layer-size table, from the zips both architectures build to, in every variant,
## and the image's layer (make image) for each platform.
.PHONY: layer-table
layer-table: layers image
	python3 scripts/layer.py readme README.md $(LAYERS)/lambda-lens-layer-x86_64.zip $(LAYERS)/lambda-lens-layer-arm64.zip \
		$(LAYERS)/lambda-lens-layer-x86_64-put-metric-data.zip $(LAYERS)/lambda-lens-layer-arm64-put-metric-data.zip \
		$(LAYERS)/lambda-lens-layer-x86_64-otlp.zip $(LAYERS)/lambda-lens-layer-arm64-otlp.zip \
		$(IMAGE)

## qemu-user runs the arm64 layer once in the sandbox during make test (Debian's package).
.PHONY: qemu
qemu:
	@command -v qemu-aarch64 >/dev/null || { apt-get update -q && apt-get install -y -q qemu-user; }

## iproute2's `ip` makes the sandbox's private network (a veth pair into the environment's
## network namespace) for make demo and make test (Debian's package; minimal images lack it).
.PHONY: iproute2
iproute2:
	@command -v ip >/dev/null || { apt-get update -q && apt-get install -y -q iproute2; }

## Runs the sample function with the extension in the local sandbox and prints the metrics; then
## lambda-lens-report on the first run's EMF: its table, and target/demo/report.html with the charts.
## (The report is a debug build: the release profile is tuned for the extension, and its fat LTO
## over the AWS SDK would cost minutes for nothing.)
demo: layer iproute2
	$(CARGO) run --locked --release -q -p lambda-lens-harness --bin lambda-lens-demo -- \
		--bootstrap $(FUNCTION)/bootstrap --layer $(LAYER) --out $(DEMO_OUT)
	@echo
	@echo "8. lambda-lens-report on run 1's EMF ($(DEMO_OUT)/emf.jsonl; the demo function's timeout is 1 s):"
	@echo
	$(CARGO) run --locked -q -p lambda-lens-report -- --emf $(DEMO_OUT)/emf.jsonl --timeout 1s \
		--html $(DEMO_OUT)/report.html
	@echo "The charts: $(DEMO_OUT)/report.html"

## The demo with the PutMetricData sink: the put-metric-data layer sends the scenario's metrics
## to a local CloudWatch (ministack, make cloudwatch-venv), and lambda-lens-report reads them back
## with GetMetricData and prints its table.
.PHONY: demo-put-metric-data
demo-put-metric-data: cloudwatch-venv
	$(MAKE) layer SINK=put-metric-data
	$(CARGO) build --locked -q -p lambda-lens-report
	LAMBDA_LENS_CLOUDWATCH_VENV=$(abspath $(CLOUDWATCH_VENV)) \
		$(CARGO) run --locked --release -q -p lambda-lens-harness --bin lambda-lens-demo -- \
		--bootstrap $(FUNCTION)/bootstrap --layer $(LAYERS)/$(ARCH)-put-metric-data --put-metric-data target/debug/lambda-lens-report

## The every-edit loop, with nothing but rustup (it adds the components it needs): formatting,
## clippy (both layer variants) and every test that needs nothing more (what a bare `cargo test`
## runs; the sandbox's own suites need Python 3 too). A suite that needs what make test builds or
## installs (a layer, a virtualenv, Chromium, qemu, SAM's build) is #[ignore]d with the reason.
check: fmt-check clippy unit-tests

unit-tests: toolchain
	$(CARGO) test --locked --workspace
	$(CARGO) test --locked -p lambda-lens --features put-metric-data --lib

## Everything, on a fresh machine (what .ci/run runs): formatting and clippy first (the fast
## failures), the dependency checks, the layers and what the suites need, the short forms of make
## cost and make bench, then every test of the workspace with the ignored ones included
## (all-tests: make check's tests are among them, so they run once).
test: fmt-check clippy unused-deps deny layers image qemu iproute2 template-check $(VENV)/.test-installed cargo-lambda-check cloudwatch-venv chromium publish-test release-test cdk-test node-ric otlp-receiver-check
	@echo "make cost, short form (10 invocations a case, the OTLP rows too, README untouched):"
	$(CARGO) run --locked --release -q -p lambda-lens-harness --bin lambda-lens-cost -- \
		--bootstrap $(FUNCTION)/bootstrap --layer $(LAYER) --otlp-layer $(LAYERS)/x86_64-otlp --invocations 10 > /dev/null
	@echo "make bench, short form (one round, no peers; checks that every figure is measured, judges no timing):"
	$(CARGO) build --locked --release -q -p lambda-lens-harness --bin lambda-lens-bench
	timeout 120 target/release/lambda-lens-bench --bootstrap $(FUNCTION)/bootstrap --layer $(LAYER) \
		--otlp-layer $(LAYERS)/x86_64-otlp \
		--rounds 1 --invocations 10 --flood-batches 2 --ready-samples 1 --capped-invocations 5 --check > /dev/null
	$(MAKE) all-tests

## Every test with the ignored ones included, given what make test builds and installs: the
## end-to-end suites in the sandbox (both architectures' layers, the put-metric-data layer against
## the local CloudWatch, awslambdaric functions, SAM's build), lambda-lens-report's against the
## local CloudWatch and in headless Chromium, and the networked sinks' unit tests (PutMetricData,
## OTLP) with their features on. scripts/every_test_ran.py fails the run if cargo ignored or filtered out any test.
all-tests:
	LAMBDA_LENS_LAYER=$(abspath $(LAYERS)/x86_64) LAMBDA_LENS_BOOTSTRAP=$(abspath target/function)/bootstrap \
		LAMBDA_LENS_LAYER_ARM64=$(abspath $(LAYERS)/arm64) \
		LAMBDA_SANDBOX_PYTHON=$(abspath $(VENV))/bin/python \
		LAMBDA_SANDBOX_NODE_RIC=$(abspath $(NODE_RIC)) LAMBDA_SANDBOX_NODE=$(NODE) \
		LAMBDA_LENS_LAYER_PUT_METRIC_DATA=$(abspath $(LAYERS)/x86_64-put-metric-data) \
		LAMBDA_LENS_LAYER_OTLP=$(abspath $(LAYERS)/x86_64-otlp) \
		LAMBDA_LENS_CLOUDWATCH_VENV=$(abspath $(CLOUDWATCH_VENV)) \
		python3 scripts/every_test_ran.py $(CARGO) test --locked --no-fail-fast --workspace -- --include-ignored
	LAMBDA_LENS_CLOUDWATCH_VENV=$(abspath $(CLOUDWATCH_VENV)) \
		python3 scripts/every_test_ran.py $(CARGO) test --locked --no-fail-fast -p lambda-lens --features put-metric-data,otlp --lib -- --include-ignored

## make check's formatting and clippy, and the dependency checks.
lint: fmt-check clippy unused-deps deny

fmt-check: toolchain
	$(CARGO) fmt --all --check

clippy: toolchain
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) clippy --locked -p lambda-lens --all-targets --features put-metric-data -- -D warnings
	$(CARGO) clippy --locked -p lambda-lens --all-targets --features otlp -- -D warnings
	$(CARGO) clippy --locked -p lambda-lens --all-targets --all-features -- -D warnings

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
	$(DENY) --log-level error --features lambda-lens/put-metric-data check licenses bans sources
	$(DENY) --log-level error --features lambda-lens/otlp check licenses bans sources

## Known vulnerabilities (RustSec): needs to fetch the advisory database, so not in make test.
audit: $(DENY)
	$(DENY) check advisories

## The stripped size of the extension binary (the layer's; SINK=put-metric-data for the other
## variant).
size: build
	@ls -l $(LAYER_RELEASE)/lambda-lens | awk '{print $$5 " bytes  $(LAYER_RELEASE)/lambda-lens"}'

clean:
	$(CARGO) clean

## What lambda-lens costs its users: each output mode and metric set on the same workload in the
## sandbox, custom metrics and log bytes counted from what the extension wrote, priced beside
## CloudWatch Lambda Insights, and the OTLP layer's exports as the OTLP test receiver got them
## (the virtualenv of make cloudwatch-venv); rewrites the README's cost table. Seconds once built.
.PHONY: cost
cost: layer cloudwatch-venv
	$(MAKE) layer SINK=otlp
	$(CARGO) build --locked --release -q -p lambda-lens-harness --bin lambda-lens-cost
	LAMBDA_LENS_CLOUDWATCH_VENV=$(abspath $(CLOUDWATCH_VENV)) timeout 300 target/release/lambda-lens-cost \
		--bootstrap $(FUNCTION)/bootstrap --layer $(LAYER) --otlp-layer $(LAYERS)/$(ARCH)-otlp --readme README.md

## The OTLP test receiver's own tests (harness/otlp-receiver: requests signed with botocore,
## each fault), in the virtualenv of make cloudwatch-venv.
.PHONY: otlp-receiver-check
otlp-receiver-check: cloudwatch-venv
	cd harness/otlp-receiver && $(abspath $(CLOUDWATCH_VENV))/bin/python -m unittest -v 2>&1

## Every generated block of the documentation that is cheap to make (docs/README.md lists them
## all): the metric table of docs/metrics.md from the catalogue (the docs test, which then checks
## the tables and links of every page), the README's layer-size table from every layer and the image
## (make layer-table: minutes on a fresh checkout, seconds once built) and its cost table
## (make cost: seconds once built). The README's bench headline is make bench's (minutes).
.PHONY: docs
docs:
	UPDATE_DOCS=1 $(CARGO) test --locked -q -p lambda-lens --test docs
	$(MAKE) layer-table
	$(MAKE) cost

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
## harness/src/soak.rs (a short one runs in make test). About a minute for 3,000 once built.
SOAK_INVOCATIONS ?= 3000
SOAK_SEED ?= 21655257070
.PHONY: soak
soak: layer
	$(CARGO) build --locked --release -q -p lambda-lens-harness --bin lambda-lens-soak
	timeout 900 target/release/lambda-lens-soak --bootstrap $(FUNCTION)/bootstrap --layer $(LAYER) \
		--invocations $(SOAK_INVOCATIONS) --seed $(SOAK_SEED)

## The peers `make bench` measures beside lambda-lens, built from the crate registry into
## target/bench-peers: the floor (a no-op extension on the lambda-extension crate), the
## telemetry floor (the floor subscribed to telemetry, reading each batch and answering 200) and
## the crate's telemetry-processor pattern (harness/peers, a workspace of their own with a
## Cargo.lock, musl like the layer), and opentelemetry-lambda-extension at a pinned version
## (cargo install --locked; glibc: it builds ring's C code; stripped into its layer). Each peer
## becomes a layer folder under target/bench-peers/layers.
OTEL_PEER_VERSION := 0.2.0
PEERS := target/bench-peers
PEER_LAYERS := $(PEERS)/layers
PEER_RELEASE := $(PEERS)/cargo/$(TARGET)/release
.PHONY: bench-peers
bench-peers: toolchain
	$(CARGO) build --locked --release -q --target $(TARGET) --manifest-path harness/peers/Cargo.toml \
		--target-dir $(PEERS)/cargo
	$(CARGO) install --quiet --locked --version $(OTEL_PEER_VERSION) --root $(PEERS) opentelemetry-lambda-extension
	rm -rf $(PEER_LAYERS)
	mkdir -p $(PEER_LAYERS)/floor/extensions $(PEER_LAYERS)/telemetry-floor/extensions \
		$(PEER_LAYERS)/crate-pattern/extensions \
		$(PEER_LAYERS)/opentelemetry/extensions
	cp $(PEER_RELEASE)/floor $(PEER_LAYERS)/floor/extensions/floor
	cp $(PEER_RELEASE)/telemetry-floor $(PEER_LAYERS)/telemetry-floor/extensions/telemetry-floor
	cp $(PEER_RELEASE)/crate-pattern $(PEER_LAYERS)/crate-pattern/extensions/crate-pattern
	strip -o $(PEER_LAYERS)/opentelemetry/extensions/opentelemetry-lambda-extension \
		$(PEERS)/bin/opentelemetry-lambda-extension

## Benchmarks: builds everything in release mode, runs the decode benchmark (in-process), then
## lambda-lens and every peer in the local sandbox in interleaved rounds (ready time, RSS idle
## and under a flood of 1 MiB batches, post-runtime duration and its tail, CPU, exit after
## SHUTDOWN, binary size, correctness on the same life), the OTLP layer (make layer SINK=otlp)
## exporting to the OTLP test receiver as a variant in the same rounds, and writes the figures and the
## targets into BENCHMARKS.md (between its bench markers) and the headline into the README.
## About 3 minutes on 2 cores once built.
BENCH_ROUNDS ?= 5
BENCH_INVOCATIONS ?= 200
BENCH_FLOOD_BATCHES ?= 16
BENCH_OUT := target/bench
.PHONY: bench
bench: layer bench-peers cloudwatch-venv
	$(MAKE) --no-print-directory layer SINK=otlp
	mkdir -p $(BENCH_OUT)
	set -o pipefail; LAMBDA_LENS_BENCH_PROFILE="$(TARGET), as shipped" \
		$(CARGO) bench --locked -p lambda-lens --bench decode --target $(TARGET) | tee $(BENCH_OUT)/decode.md
	$(CARGO) build --locked --release -q -p lambda-lens-harness --bin lambda-lens-bench
	timeout 900 target/release/lambda-lens-bench --bootstrap $(FUNCTION)/bootstrap --layer $(LAYER) \
		--peers $(PEER_LAYERS) --otlp-layer $(LAYERS)/$(ARCH)-otlp --rounds $(BENCH_ROUNDS) --invocations $(BENCH_INVOCATIONS) \
		--flood-batches $(BENCH_FLOOD_BATCHES) --layer-zip $(LAYER_ZIP) --decode $(BENCH_OUT)/decode.md \
		--command "make bench BENCH_ROUNDS=$(BENCH_ROUNDS) BENCH_INVOCATIONS=$(BENCH_INVOCATIONS) BENCH_FLOOD_BATCHES=$(BENCH_FLOOD_BATCHES)" \
		--write BENCHMARKS.md --readme README.md

## The post-runtime tail on enough invocations to judge its targets (BENCHMARKS.md, "What one run
## can judge"): lambda-lens beside the no-op floor and the telemetry floor only, 30,000 dense and
## 10,000 capped invocations each over 5 interleaved rounds; one make bench (1,000 and 500) cannot
## resolve a 0.05 ms or 1-in-1,000 margin. Prints the figures and the targets, and keeps them in
## target/bench/tail.md. About 5 minutes once built.
.PHONY: bench-tail
bench-tail: layer bench-peers
	mkdir -p $(BENCH_OUT)
	$(CARGO) build --locked --release -q -p lambda-lens-harness --bin lambda-lens-bench
	set -o pipefail; timeout 1800 target/release/lambda-lens-bench --bootstrap $(FUNCTION)/bootstrap --layer $(LAYER) \
		--peers $(PEER_LAYERS) --peer floor --peer telemetry-floor --rounds 5 --invocations 6000 \
		--capped-invocations 2000 --ready-samples 0 --flood-batches 1 --command "make bench-tail" \
		| tee $(BENCH_OUT)/tail.md

## The release (docs/releases.md): every layer zip of RELEASE_SINKS for both architectures, named
## lambda-lens-VERSION-SINK-ARCH.zip, a CycloneDX SBOM of each binary (cargo-cyclonedx, pinned)
## and SHA256SUMS, in dist/ (scripts/release.py). It refuses a tree with uncommitted changes
## unless RELEASE_ALLOW_DIRTY=1. Minutes on a fresh checkout (a build per variant and architecture),
## seconds once built.
CYCLONEDX_VERSION := 0.5.9
CYCLONEDX := target/tools/bin/cargo-cyclonedx
$(CYCLONEDX):
	$(CARGO) install --quiet --locked --version $(CYCLONEDX_VERSION) --root target/tools cargo-cyclonedx
# rust-audit-info (pinned; the reader of cargo-auditable's project) reads the binaries' dependency
# lists in make release's suite.
AUDIT_INFO_VERSION := 0.5.4
AUDIT_INFO := target/tools/bin/rust-audit-info
$(AUDIT_INFO):
	$(CARGO) install --quiet --locked --version $(AUDIT_INFO_VERSION) --root target/tools rust-audit-info
RELEASE_SINKS ?= emf put-metric-data otlp
RELEASE_ARCHS ?= x86_64 arm64
DIST ?= dist
.PHONY: release release-info release-test release-repro
release: $(AUDITABLE) $(CYCLONEDX)
	python3 scripts/release.py --sinks "$(RELEASE_SINKS)" --archs "$(RELEASE_ARCHS)" --out $(DIST) \
		--cyclonedx $(abspath $(CYCLONEDX)) --make "$(MAKE)"

## What scripts/release.py asks of the Makefile for ARCH and SINK: the zip, the target triple and
## the cargo features.
release-info:
	@echo "$(LAYER_ZIP) $(TARGET) $(FEATURES)"

## make release's suite (in make test): the release of this tree (RELEASE_ALLOW_DIRTY=1; the
## layers make test built are reused), its names, SHA256SUMS, SBOMs, the binaries' dependency
## lists and versions (arm64 under qemu), the refusal of a dirty tree, and a clean clone's build
## of RELEASE_REPRO_SINKS x RELEASE_REPRO_ARCHS from scratch compared byte for byte.
RELEASE_REPRO_SINKS ?= emf
RELEASE_REPRO_ARCHS ?= x86_64
release-test: $(AUDITABLE) $(CYCLONEDX) $(AUDIT_INFO) qemu
	RELEASE_SINKS="$(RELEASE_SINKS)" RELEASE_ARCHS="$(RELEASE_ARCHS)" \
		RELEASE_REPRO_SINKS="$(RELEASE_REPRO_SINKS)" RELEASE_REPRO_ARCHS="$(RELEASE_REPRO_ARCHS)" \
		python3 scripts/test_release.py --make "$(MAKE)" --tools $(abspath target/tools/bin)

## The whole reproducibility check: the suite with every variant and architecture built from
## scratch in the clean clone (about as long as a fresh make release).
release-repro:
	$(MAKE) release-test RELEASE_REPRO_SINKS="$(RELEASE_SINKS)" RELEASE_REPRO_ARCHS="$(RELEASE_ARCHS)"
