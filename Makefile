# kafka-loki-bridge: build, test and demo on a Debian 12 machine with Swift 6.
#
#   make deps     install what is missing (Debian packages, .venv with the test bed)  -- scripts/bootstrap.sh
#   make build    debug build (.build/debug/kafka-loki-bridge)
#   make release  release build
#   make test     ONE debug build with tests, then Swift unit tests, then the end-to-end suite
#                 (real Tansu broker + Loki stand-in + that same debug binary)
#   make e2e      only the end-to-end suite (after a build); PYTEST_ARGS="-k sigkill -x" to narrow
#   make bench    release build, then the end-to-end benchmark and micro-benchmarks (testbed/bench.py;
#                 BENCH_ARGS="--protobuf-lines 1000000"); results in .state/bench, see docs/performance.md
#   make demo     the whole pipeline with sample logs, live until Ctrl-C  (DEMO_ARGS="--lines 20000")
#   make clean    build products and test state; `make distclean` also removes .venv
SHELL := /bin/bash
.DEFAULT_GOAL := build

# The toolchain lives in /opt/swift/usr/bin on these machines; use it when PATH lacks swift.
ifeq ($(shell command -v swift 2>/dev/null),)
  ifneq ($(wildcard /opt/swift/usr/bin/swift),)
    export PATH := $(PATH):/opt/swift/usr/bin
  endif
endif

PY          := .venv/bin/python
BRIDGE_BIN  ?= $(CURDIR)/.build/debug/kafka-loki-bridge
# librdkafka 2.16 from the confluent-kafka wheel (Debian's 2.0.2 cannot talk to Tansu; DESIGN.md).
RDKAFKA_LIB := $(CURDIR)/.venv/rdkafka-lib
RUN_ENV     := BRIDGE_BIN=$(BRIDGE_BIN) LD_LIBRARY_PATH=$(RDKAFKA_LIB)$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}
SWIFT_FLAGS ?=
PYTEST_ARGS ?=
DEMO_ARGS   ?=
BENCH_ARGS  ?=

banner = @printf '\n\033[1m== %s\033[0m\n' "$(1)"

.PHONY: deps build release test unit e2e demo bench clean distclean

deps:
	$(call banner,deps: scripts/bootstrap.sh)
	@scripts/bootstrap.sh

build: deps
	$(call banner,swift build)
	swift build $(SWIFT_FLAGS)

release: deps
	$(call banner,swift build -c release)
	swift build -c release $(SWIFT_FLAGS)

# One build for everything: the unit tests and the end-to-end suite use the same debug build.
# The end-to-end suite runs even when the unit tests fail (the target still fails); pytest's
# summary stays the last line of the output.
test: deps
	$(call banner,swift build --build-tests)
	swift build --build-tests $(SWIFT_FLAGS)
	$(call banner,Swift unit tests: swift test --skip-build)
	@unit=0; \
	$(RUN_ENV) swift test --skip-build || unit=$$?; \
	if [ $$unit != 0 ]; then note=" (Swift unit tests FAILED with exit code $$unit; running these anyway)"; fi; \
	printf '\n\033[1m== end-to-end tests: pytest Tests/EndToEnd%s\033[0m\n' "$$note"; \
	$(RUN_ENV) $(PY) -m pytest Tests/EndToEnd -q $(PYTEST_ARGS) && [ $$unit = 0 ]

unit: deps
	$(call banner,Swift unit tests)
	swift build --build-tests $(SWIFT_FLAGS)
	$(RUN_ENV) swift test --skip-build

e2e: deps
	$(call banner,end-to-end tests: pytest Tests/EndToEnd)
	@test -x "$(BRIDGE_BIN)" || { echo "no $(BRIDGE_BIN): run make build first" >&2; exit 1; }
	$(RUN_ENV) $(PY) -m pytest Tests/EndToEnd -q $(PYTEST_ARGS)

demo: build
	$(call banner,demo: testbed/demo.py (Ctrl-C stops it))
	@$(RUN_ENV) $(PY) testbed/demo.py $(DEMO_ARGS)

# Times are printed, never asserted; it fails only when lines went missing.
bench: release
	$(call banner,bench: testbed/bench.py)
	@LD_LIBRARY_PATH=$(RDKAFKA_LIB)$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH} $(PY) testbed/bench.py $(BENCH_ARGS)

clean:
	rm -rf .build .state .pytest_cache
	find testbed Tests/EndToEnd -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf .venv
