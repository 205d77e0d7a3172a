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
# the desktop tests add a virtual X display and WebKit's WebDriver; the pop-up
# screenshot test a real notification daemon (dunst) and imagemagick's import.
APT_TEST := dbus dbus-x11 gnome-keyring libsecret-tools xvfb xauth webkit2gtk-driver fonts-dejavu-core dunst imagemagick xdotool
# Packaging: dpkg-shlibdeps (cargo-deb's $$auto Depends), the desktop entry
# validator and systemd-analyze for the package test, npm for tauri-cli.
APT_PACKAGE := dpkg-dev desktop-file-utils systemd npm
# tauri-cli from npm: a prebuilt binary in seconds, where `cargo install
# tauri-cli` compiles for about 10 minutes on 2 cores; kept under target/
# (not global) and pinned to the tauri crate's version in Cargo.lock.
TAURI_CLI_VERSION := 2.12.5
TAURI_CLI_DIR := target/tools/tauri-cli
TAURI := $(TAURI_CLI_DIR)/node_modules/.bin/tauri
# cargo-deny, pinned: a new release may read deny.toml differently.
CARGO_DENY_VERSION := 0.20.2


.PHONY: deps test-deps bench-deps package-deps toolchain run serve test lint bench fuzz package package-test clean

## deps: install the system packages the build and the tests need (no-op when present)
deps: toolchain
	@./scripts/apt-install $(APT_BUILD)

test-deps:
	@./scripts/apt-install $(APT_TEST)
	@# The tunnel tests run a real bore server and client on loopback.
	@command -v bore >/dev/null || test -x "$${CARGO_HOME:-$$HOME/.cargo}/bin/bore" || $(CARGO) install bore-cli --locked
	@# cargo-deny for `make lint` (bans and licences; deny.toml). It has no smaller feature
	@# set (0.20 has no features); compiling it took 8.4 min on 2 busy cores, once per machine.
	@command -v cargo-deny >/dev/null || test -x "$${CARGO_HOME:-$$HOME/.cargo}/bin/cargo-deny" || $(CARGO) install cargo-deny --locked --version $(CARGO_DENY_VERSION)

bench-deps: deps
	@./scripts/apt-install $(APT_BENCH)

package-deps: deps
	@command -v npm >/dev/null || ./scripts/apt-install $(APT_PACKAGE)
	@./scripts/apt-install $(filter-out npm,$(APT_PACKAGE))
	@test -x $(TAURI) || npm install --prefix $(TAURI_CLI_DIR) --no-save --no-audit --no-fund @tauri-apps/cli@$(TAURI_CLI_VERSION)
	@# cargo-deb is pinned: 3.8 warns that packaging the dev profile (package-test) will become an error.
	@command -v cargo-deb >/dev/null || test -x "$${CARGO_HOME:-$$HOME/.cargo}/bin/cargo-deb" || $(CARGO) install cargo-deb --locked --version 3.8.0

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

## test: formatting, lints, the dependency policy (cargo deny), unit and end-to-end tests (with the engine's layering check, crates/core/tests/layers.rs)
test: deps test-deps lint
	$(CARGO) build -p notifier-daemon -p sekoia-notifier
	$(CARGO) test --workspace

## lint: rustfmt, clippy, and cargo-deny's bans and licences (deny.toml; advisories need the
## RustSec database, which cannot be fetched here: run `cargo deny check advisories` elsewhere)
lint: toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@command -v cargo-deny >/dev/null || test -x "$${CARGO_HOME:-$$HOME/.cargo}/bin/cargo-deny" || { echo "cargo-deny not found: run make test-deps"; exit 2; }
	$(CARGO) deny check bans licenses

## bench: every benchmark side by side in one run (release builds, about 20 minutes warm; not part of
## `make test`): intake against a bare axum handler and the FastAPI reference, POST -> pop-up latency,
## a 10,000-alert storm, idle footprint and start-up beside a hello-world Tauri app (the framework's
## floor), and a store of 1,000,000 events (about 9 minutes, 2 GB of disk while it runs). Prints the table, writes bench/results.json and the results part of BENCHMARKS.md.
bench: bench-deps test-deps
	$(CARGO) build --release -q -p notifier-daemon -p sekoia-notifier -p bench -p tauri-floor
	./bench/intake.sh
	./bench/large-store.sh
	./target/release/enrich-bench
	./target/release/footprint-bench
	./target/release/bench-report

## package: release .deb packages of the app and the daemon, and the AppImage where the
## bundler can download its tools, in target/packages/ (see scripts/package)
package: package-deps
	TAURI=$(TAURI) ./scripts/package release

## package-test: the same packaging over the dev profile `make test` already built (a release
## build of the app adds about 10 minutes on 2 cores), then the checks in scripts/package-test;
## CI runs it after `make test`
package-test: package-deps
	TAURI=$(TAURI) ./scripts/package debug
	./scripts/package-test target/packages

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
