# conceptd: two commands for a fresh Debian 12 machine with the Swift 6 toolchain:
#   make test   installs missing Debian packages, builds, runs the whole suite
#   make run    builds in release and starts the daemon on the demo config
SHELL := /bin/bash
SWIFT ?= swift
# Tests are built optimised: numeric Swift in a debug build is 10-100x slower.
TEST_FLAGS := -c release -Xswiftc -enable-testing
DEB_PACKAGES := pkg-config libopenblas-dev libavformat-dev libavcodec-dev libavutil-dev \
	libswscale-dev libavdevice-dev libsystemd-dev ffmpeg systemd
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build test run bench bench-step install clean

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c release

test: deps
	@echo "== parity in the float64 verification build (the reference's precision, the strict criterion)"
	$(SWIFT) build $(TEST_FLAGS) -Xswiftc -DCONCEPT_FLOAT64 --scratch-path .build-f64 --build-tests
	$(SWIFT) test $(TEST_FLAGS) -Xswiftc -DCONCEPT_FLOAT64 --scratch-path .build-f64 --skip-build --disable-xctest --filter ParityTests
	@echo "== the whole suite in the float32 product build"
	$(SWIFT) build $(TEST_FLAGS) --build-tests
	$(SWIFT) test $(TEST_FLAGS) --skip-build --disable-xctest

run: build
	@mkdir -p .build/demo/watch
	@echo "conceptd on configs/demo.toml (state in .build/demo; drop videos into .build/demo/watch). Ctrl-C stops it."
	.build/release/conceptd --config configs/demo.toml

bench: build
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .build/release/concept-bench conv
	bench/compare_step.sh tiny 8

# Swift against PyTorch for one preset: make bench-step PRESET=paper BATCH=2
bench-step: build
	bench/compare_step.sh $(or $(PRESET),tiny) $(or $(BATCH),8)

clean:
	rm -rf .build
