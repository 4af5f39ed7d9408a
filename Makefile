# The README's commands. Each installs what is missing first (scripts/install-deps is quiet when
# nothing is), then builds with CMake + Ninja. The release binary is always build/usher.
.PHONY: deps build debug asan fuzz test test-asan test-tls test-browser run format format-check bench clean

deps:
	@scripts/install-deps

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release

debug: deps
	@cmake --preset debug >/dev/null
	@cmake --build --preset debug

asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan

fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz

test: build
	@ctest --preset release

test-asan: asan
	@ctest --preset asan

# testssl.sh scan of a TLS listener (about 2 minutes; not part of `make test`).
test-tls: build
	@scripts/install-deps tls
	@scripts/test-tls

# The dashboard page in headless Chromium, against a fake /status and the real usher (about a
# minute; not part of `make test`). Saves docs/images/dashboard.png.
test-browser: build
	@scripts/install-deps browser
	@tests/browser/dashboard_test.py

run: build
	@scripts/demo

bench: build
	@bench/compare

FORMAT_FILES = $(shell git ls-files '*.cpp' '*.hpp')
format:
	@clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	@rm -rf build build-debug build-asan build-fuzz
