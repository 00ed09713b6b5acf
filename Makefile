# llmem: GNU Makefile. `make` builds build/llmem; `make check` runs every
# test; `make SANITIZE=1 check` runs them under ASan + UBSan; `make fuzz`
# builds and runs the libFuzzer targets; `make bench` runs the benchmarks.

CC ?= cc
PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
FUZZ_SECONDS ?= 60

ifeq ($(SANITIZE),1)
BUILD ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT ?= -O1 -g
else
BUILD ?= build
SANFLAGS =
OPT ?= -O2 -g
endif

WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wpointer-arith -Wvla -Wformat=2 -Wno-format-nonliteral
# jansson: JSON; libevent: the daemon's loop; http_parser (no pkg-config
# file): the HTTP framing of the daemon's server and backend client;
# ncurses: `llmem top`.
DEPS_PKGS = jansson libevent ncurses
DEPS_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(DEPS_PKGS) 2>/dev/null)
DEPS_LIBS := $(shell $(PKG_CONFIG) --libs $(DEPS_PKGS) 2>/dev/null) -lhttp_parser
# ... linked in statically where the -dev packages ship their archives
# (Debian's do): every shared object costs the loader a mapping,
# relocations and page faults at each start, and a command such as
# `llmem estimate` runs for a few milliseconds in all (bench/estimate.sh):
# these five were 1 ms of the 3.7 that `llmem --version` took on the bench
# machine. STATIC_DEPS=0 links them shared.
STATIC_DEPS ?= $(shell for l in jansson event ncurses tinfo http_parser; do \
	f=$$($(CC) -print-file-name=lib$$l.a); [ -f "$$f" ] || { echo 0; exit 0; }; done; echo 1)
ifeq ($(STATIC_DEPS),1)
DEPS_LIBS := -Wl,-Bstatic $(DEPS_LIBS) -Wl,-Bdynamic
endif
CMOCKA_CFLAGS := $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

CFLAGS_ALL = -std=c11 $(OPT) $(WARN) $(SANFLAGS) -Isrc $(DEPS_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(SANFLAGS) $(LDFLAGS)

# The pure core: no I/O, no globals (checked by scripts/check-pure.sh).
CORE_SRC = $(wildcard src/base/*.c src/gguf/*.c src/model/*.c src/estimate/*.c src/place/*.c)
REST_SRC = $(wildcard src/io/*.c src/output/*.c src/probe/*.c src/probe/gpu/*.c src/serve/*.c src/cli/cmd-*.c)
CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/%.o)
REST_OBJ = $(REST_SRC:%.c=$(BUILD)/%.o)

UNIT_SRC = $(wildcard tests/unit/test-*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC = $(wildcard tests/tools/*.c)
TOOL_BIN = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
FUZZ_SRC = $(wildcard fuzz/fuzz-*.c)

.PHONY: all check test-bins fuzz fuzz-bins bench install clean check-pure demo
all: $(BUILD)/llmem

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/libllmem-core.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The dashboard of `llmem serve` (GET /): the files of src/serve/dashboard/,
# embedded in dashboard.o as C arrays by scripts/embed.sh.
DASH_FILES = $(sort $(wildcard src/serve/dashboard/*.html src/serve/dashboard/*.js \
			      src/serve/dashboard/*.css src/serve/dashboard/*.svg))
$(BUILD)/gen/dashboard-assets.inc: scripts/embed.sh $(DASH_FILES)
	@mkdir -p $(dir $@)
	sh scripts/embed.sh $@ $(DASH_FILES)
$(BUILD)/src/serve/dashboard.o: $(BUILD)/gen/dashboard-assets.inc
$(BUILD)/src/serve/dashboard.o: CFLAGS_ALL += -I$(BUILD)/gen

$(BUILD)/libllmem.a: $(REST_OBJ)
	@rm -f $@
	ar rcs $@ $^

LIBS = $(BUILD)/libllmem.a $(BUILD)/libllmem-core.a

$(BUILD)/llmem: $(BUILD)/src/cli/main.o $(LIBS)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(DEPS_LIBS) -lm

$(BUILD)/tests/%: tests/unit/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CMOCKA_CFLAGS) -Itests -MMD -MP -MF $@.d -o $@ $< $(LIBS) $(LDFLAGS_ALL) $(CMOCKA_LIBS) $(DEPS_LIBS) -lm

$(BUILD)/tools/%: tests/tools/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests -MMD -MP -MF $@.d -o $@ $< $(LIBS) $(LDFLAGS_ALL) $(DEPS_LIBS) -lm

test-bins: $(BUILD)/llmem $(UNIT_BIN) $(TOOL_BIN)

# A fake NVML for `llmem devices` (LLMEM_NVML=$(BUILD)/tools/libfake-nvml.so):
# one with the current entry points, one with only the first ones.
FAKE_NVML = $(BUILD)/tools/libfake-nvml.so $(BUILD)/tools/libfake-nvml-old.so
$(BUILD)/tools/libfake-nvml.so: tests/tools/nvml/fake-nvml.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -shared -o $@ $< $(LDFLAGS_ALL)
$(BUILD)/tools/libfake-nvml-old.so: tests/tools/nvml/fake-nvml.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DFAKE_NVML_OLD -fPIC -shared -o $@ $< $(LDFLAGS_ALL)
test-bins: $(FAKE_NVML)

check: test-bins check-pure
	@BUILD=$(BUILD) sh tests/run.sh

check-pure: $(BUILD)/libllmem-core.a
	@sh scripts/check-pure.sh $(BUILD)/libllmem-core.a

# libFuzzer targets (fuzz/fuzz-*.c): clang only. The sources they reach are
# built once, instrumented, into their own archive; each target links what
# it needs from it. Of src/serve only the parsers of outside input: the
# daemon's libevent side (daemon.c, api.c, proxy.c) and the rest parse
# nothing a client or a backend sends; a target for a new parser there
# adds its file here.
# fuzz/run.sh runs each target for FUZZ_SECONDS on its own corpus.
FUZZ_BUILD = build-fuzz
FUZZ_CC = clang
FUZZ_CFLAGS = -std=c11 -g -O1 -Isrc $(DEPS_CFLAGS) -fsanitize=address,undefined \
	      -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LIB_SRC = $(CORE_SRC) $(wildcard src/probe/*.c) \
	       $(addprefix src/serve/,translate.c backend.c registry.c footprint.c http.c reqscan.c)
FUZZ_LIB_OBJ = $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BIN = $(FUZZ_SRC:fuzz/%.c=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libllmem-fuzz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz-%: fuzz/fuzz-%.c $(FUZZ_BUILD)/libllmem-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(WARN) -fsanitize=fuzzer -MMD -MP -MF $@.d -o $@ $< \
		$(FUZZ_BUILD)/libllmem-fuzz.a $(DEPS_LIBS) -lm

fuzz-bins: $(FUZZ_BIN)

fuzz: $(BUILD)/tools/gguf-synth $(FUZZ_BIN)
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=$(BUILD) sh fuzz/run.sh

# The README's first command: synthesize a Llama-3.1-8B-shaped Q4_K_M model
# (sparse: its 4.9 GB of tensor data cost no disk) and inspect it.
demo: $(BUILD)/llmem $(BUILD)/tools/gguf-synth
	@$(BUILD)/tools/gguf-synth --shape llama-3.1-8b --ftype q4_k_m $(BUILD)/llama-3.1-8b-q4_k_m.gguf
	@$(BUILD)/llmem inspect $(BUILD)/llama-3.1-8b-q4_k_m.gguf

bench: $(BUILD)/llmem $(TOOL_BIN)
	@BUILD=$(BUILD) sh bench/run.sh
	@BUILD=$(BUILD) sh bench/estimate.sh
	@BUILD=$(BUILD) sh bench/fit.sh
	@BUILD=$(BUILD) sh bench/accuracy.sh
	@BUILD=$(BUILD) sh bench/recommend.sh
	@BUILD=$(BUILD) sh bench/serve.sh

install: $(BUILD)/llmem
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 755 $(BUILD)/llmem $(DESTDIR)$(PREFIX)/bin/llmem
	install -m 644 docs/llmem.1 $(DESTDIR)$(PREFIX)/share/man/man1/llmem.1
	install -m 644 contrib/llmem.bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/llmem
	sed 's|/usr/local/bin/llmem|$(PREFIX)/bin/llmem|' contrib/llmem.service >$(DESTDIR)$(PREFIX)/lib/systemd/system/llmem.service
	chmod 644 $(DESTDIR)$(PREFIX)/lib/systemd/system/llmem.service

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
