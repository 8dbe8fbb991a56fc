# capvm build.  `make` builds build/capvm; `make check` runs every test and
# prints one "N passed, N failed[, N skipped]" line; `make demo` installs what
# is missing, builds the guest images and boots the default guest.
#
# Sources are picked up by wildcard: every src/**/*.c except src/cli/main.c
# goes into build/libcapvm.a, which the binary, the unit tests, the fuzzers
# and the benchmarks link against.

CC      ?= cc
CLANG   ?= clang
BUILD   ?= build
CFLAGS  ?= -O2 -g
WARN    := -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
           -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 -Wvla
CPPFLAGS += -D_GNU_SOURCE -Isrc
# A static binary: self-contained, and the VMM keeps resident only the parts
# of libc it uses (1.3 MB of VMM overhead instead of 1.9 MB with a shared
# libc).  Debian ships static archives of liburing, libseccomp and json-c.
# (glibc warns that getaddrinfo needs its shared NSS modules at run time;
# monitor addresses are numeric or "localhost", which works.)
LIBS    := -static -luring -lseccomp -ljson-c -lpthread -lm

SRCS     := $(shell find src -name '*.c' ! -path src/cli/main.c | sort)
HDRS     := $(shell find src -name '*.h')
OBJS     := $(SRCS:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNITS    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRC:= $(wildcard bench/*/*.c)

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
CPPFLAGS += -DCAPVM_VERSION='"$(VERSION)"' -DCAPVM_CFLAGS='"$(CFLAGS)"'

.PHONY: all clean check demo fuzz unit asan deps images bench-smoke FORCE
all: $(BUILD)/capvm

# The objects that print the version are rebuilt when it (or CFLAGS)
# changes: the stamp is rewritten only then, so other builds stay no-ops.
VERSION_STAMP := $(BUILD)/version.stamp
$(VERSION_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION) $(CFLAGS)' | cmp -s - $@ || echo '$(VERSION) $(CFLAGS)' > $@
$(BUILD)/src/cli/main.o $(BUILD)/src/cli/cmd_debug_bundle.o $(BUILD)/src/monitor/session.o: $(VERSION_STAMP)

$(BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c $< -o $@

$(BUILD)/libcapvm.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/capvm: $(BUILD)/src/cli/main.o $(BUILD)/libcapvm.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libcapvm.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(WARN) $(CFLAGS) -o $@ $< $(BUILD)/libcapvm.a $(LIBS)

unit: $(UNITS)

# The same sources built with AddressSanitizer and UBSan (clang), for the
# unit tests and the fuzz targets.  The library also carries libFuzzer's
# coverage instrumentation (fuzzer-no-link), so the fuzz targets link
# against it instead of compiling every source again.
ASAN_CFLAGS := -O1 -g -fsanitize=address,undefined,fuzzer-no-link \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer
asan:
	$(MAKE) BUILD=build/asan CC=$(CLANG) CFLAGS="$(ASAN_CFLAGS)" \
	  LIBS="-luring -lseccomp -ljson-c -lpthread -lm" build/asan/capvm $(UNITS:$(BUILD)/%=build/asan/%)

FUZZ_CFLAGS := -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
build/fuzz/%: tests/fuzz/%.c build/asan/libcapvm.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(CPPFLAGS) -Itests $(WARN) $(FUZZ_CFLAGS) -o $@ $< build/asan/libcapvm.a -luring -lseccomp -ljson-c -lpthread -lm

ifneq ($(BUILD),build/asan)
build/asan/libcapvm.a: asan
endif

fuzz-build: $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)

# Long fuzzing run (make check runs each target briefly).
FUZZ_SECONDS ?= 300
fuzz: fuzz-build
	@for f in $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%); do \
	  mkdir -p build/fuzz/corpus/$$(basename $$f); \
	  $$f -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus/$$(basename $$f) || exit 1; done

deps:
	scripts/install-deps.sh

images: all
	guest/build-images.sh

check: deps
	$(MAKE) -j$$(nproc) all unit asan fuzz-build
	guest/build-images.sh
	tests/run-all.sh

check-only: all unit asan fuzz-build
	tests/run-all.sh

demo: deps
	$(MAKE) all
	guest/build-images.sh
	scripts/demo.sh

# One iteration of each benchmark (boots in the test host when there is no
# real KVM); `bench/boot/run.sh` alone runs the full boot benchmark.
bench-smoke: all
	guest/build-images.sh
	bench/boot/run.sh 1

# The cross-CPU wake-up stressor of bench/blk/run.sh (BENCH_BLK_STRESS=1).
$(BUILD)/bench/ipi-stress: bench/tools/ipi-stress.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) -pthread -o $@ $<

# What one copy costs (docs/performance.md, seventh session).
$(BUILD)/bench/copy-cost: bench/tools/copy-cost.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) -static -o $@ $<

clean:
	rm -rf build
