# SPDX-License-Identifier: Apache-2.0
# Thin wrapper over CMake. The two commands a newcomer needs:
#   make test   install build dependencies, build (Release) in build/, run all tests
#   make demo   the same set-up, then run the main job: build/squib-snap demo
BUILD   ?= build
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test demo bench bench-check bench-report bench-ab sanitize tsan fuzz lint install clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	scripts/run-tests $(BUILD)

# Every test but those labelled slow, whose verdict can depend on timing
# (docs/ARCHITECTURE.md, "How to add a test"); make test runs them all.
.PHONY: test-fast
test-fast: build
	scripts/run-tests $(BUILD) -LE slow

demo: build
	$(BUILD)/squib-snap demo

bench: build
	$(BUILD)/squib-bench --benchmark_out=$(BUILD)/bench.json --benchmark_out_format=json \
		$(BENCH_ARGS)
	@echo "results: $(BUILD)/bench.json"

# ASan + UBSan build and tests (build-asan/), ThreadSanitizer (build-tsan/).
sanitize: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSQ_SANITIZE=address,undefined \
		-DSQ_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		scripts/run-tests build-asan

tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSQ_SANITIZE=thread \
		-DSQ_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build build-tsan -j $(JOBS)
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
		scripts/run-tests build-tsan -L '$(or $(TSAN_LABELS),.)'

# Performance-regression gate and plots (see docs/PERFORMANCE.md).
bench-check: build
	bench/check $(BUILD)

bench-report: build
	bench/report $(BUILD)

# A/B comparison of two revisions, interleaved runs and a rank test
# (bench/ab --help): make bench-ab BASE=main HEAD=my-branch AB_ARGS='--filter ...'
BASE ?= HEAD~1
HEAD ?= HEAD
bench-ab: deps
	bench/ab $(BASE) $(HEAD) $(AB_ARGS)

# libFuzzer targets under clang with ASan + UBSan (FUZZ_SECONDS each).
fuzz:
	SQ_DEPS_EXTRA="clang" scripts/install-deps
	scripts/fuzz $(or $(FUZZ_SECONDS),60)

lint:
	scripts/lint

# Never runs a package manager: configures (if needed) and builds with what
# is installed, then installs. Run 'make deps' (or 'make build') first on a
# machine that lacks the build dependencies.
install:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz build-clang
