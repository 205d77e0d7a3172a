# Sekoia Notifier: every entry point a person or CI needs.
# `make run` and `make test` install what is missing first (see `deps`).

SHELL := /bin/bash
CARGO ?= cargo

# Debian/Ubuntu packages. gcc builds the bundled SQLite; pkg-config serves
# the -sys crates; WebKitGTK, GTK and friends build the Tauri desktop app.
APT_BUILD := build-essential pkg-config libdbus-1-dev libssl-dev \
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev \
  libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
# wrk generates the load; python3-venv hosts the FastAPI reference receiver.
APT_BENCH := wrk curl bc python3 python3-venv
# The tests start a private D-Bus session bus and Secret Service keyring each;
# the desktop tests add a virtual X display and WebKit's WebDriver.
APT_TEST := dbus dbus-x11 gnome-keyring libsecret-tools xvfb xauth webkit2gtk-driver fonts-dejavu-core


.PHONY: deps test-deps bench-deps toolchain run serve test lint bench fuzz clean

## deps: install the system packages the build and the tests need (no-op when present)
deps: toolchain
	@./scripts/apt-install $(APT_BUILD)

test-deps:
	@./scripts/apt-install $(APT_TEST)
	@# The tunnel tests run a real bore server and client on loopback.
	@command -v bore >/dev/null || test -x "$${CARGO_HOME:-$$HOME/.cargo}/bin/bore" || $(CARGO) install bore-cli --locked

bench-deps: deps
	@./scripts/apt-install $(APT_BENCH)

toolchain:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs)"; exit 2; }
	@if command -v rustup >/dev/null; then \
	  for c in rustfmt clippy; do rustup component list --installed 2>/dev/null | grep -q "^$$c" || rustup component add $$c; done; \
	fi

## run: build and start the desktop app (the headless engine: make serve)
run: deps
	$(CARGO) run -p sekoia-notifier

serve: deps
	$(CARGO) run -p notifier-daemon -- serve

## test: formatting, lints, unit and end-to-end tests
test: deps test-deps lint
	$(CARGO) build -p notifier-daemon -p sekoia-notifier
	$(CARGO) test --workspace

lint: toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## bench: every benchmark side by side in one run (release builds, about 10 minutes warm; not part of
## `make test`): intake against a bare axum handler and the FastAPI reference, POST -> pop-up latency,
## a 10,000-alert storm, idle footprint and start-up beside a hello-world Tauri app (the framework's
## floor). Prints the table, writes bench/results.json and the results part of BENCHMARKS.md.
bench: bench-deps test-deps
	$(CARGO) build --release -q -p notifier-daemon -p sekoia-notifier -p bench -p tauri-floor
	./bench/intake.sh
	./target/release/enrich-bench
	./target/release/footprint-bench
	./target/release/bench-report

FUZZ_SECONDS ?= 60
FUZZ_TARGETS := event_parse alert_list

## fuzz: run each cargo-fuzz target for FUZZ_SECONDS (default 60) from the checked-in seeds
## (nightly + cargo-fuzz, installed when missing; not part of `make test`, which parses the seeds)
fuzz: deps
	@rustup toolchain list 2>/dev/null | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || test -x "$${CARGO_HOME:-$$HOME/.cargo}/bin/cargo-fuzz" || $(CARGO) install cargo-fuzz --locked
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t; \
	  $(CARGO) +nightly fuzz run $$t fuzz/corpus/$$t fuzz/seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=65536 || exit 1; \
	done

clean:
	$(CARGO) clean
