# nexus - plain Makefile, pkg-config for every dependency.
#
#   make            build everything into build/ (bin/, lib/, tests/)
#   make test       install missing Debian packages, build, run every test
#   make test-stress  the whole suite 10 times, then 3 times with every CPU busy
#   make demo       install missing Debian packages, build, run the demo
#   make bench      run nxbench (pinned, baselines in the same run)
#   make asan       the whole test suite under ASan+UBSan (build-asan/)
#   make tsan       the whole test suite under TSan (build-tsan/)
#   make install    PREFIX=/usr/local DESTDIR=  (libnx, header, pkg-config, tools, nxwd@.service)
#   make V=1        show the commands

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
BUILD ?= build
SAN ?=

ifeq ($(V),1)
Q :=
else
Q := @
endif

PKG_CORE := ck liburcu-qsbr hwloc inih libelf
PKG_TEST := cmocka
PKG_TOP := ncursesw

WARN := -Wall -Wextra -Wshadow -Wundef -Wstrict-prototypes -Wmissing-prototypes \
	-Wcast-align -Wformat=2 -Werror
# DWARF 4: valgrind 3.19 (Debian 12) cannot read clang's DWARF 5
OPT ?= -O2 -g -gdwarf-4
CFLAGS_ALL := -std=gnu11 $(WARN) $(OPT) -fno-omit-frame-pointer -fPIC -D_GNU_SOURCE \
	-Iinclude -I. $(shell pkg-config --cflags $(PKG_CORE) 2>/dev/null) $(CFLAGS)
LDFLAGS_ALL := $(LDFLAGS)
LIBS_CORE := $(shell pkg-config --libs $(PKG_CORE) 2>/dev/null) -lpthread -ldl

ifeq ($(SAN),asan)
CFLAGS_ALL += -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS_ALL += -fsanitize=address,undefined
endif
ifeq ($(SAN),tsan)
# ck's x86 port hides its atomics in asm; TSan builds use platform/tsan/ck_pr.h
CFLAGS_ALL := -Iplatform/tsan $(CFLAGS_ALL) -fsanitize=thread -fno-sanitize-recover=all
LDFLAGS_ALL += -fsanitize=thread
endif

OBJ := $(BUILD)/obj
BIN := $(BUILD)/bin
LIB := $(BUILD)/lib
TST := $(BUILD)/tests

# ---- sources ----
PLATFORM_SRC := $(wildcard platform/linux/*.c) $(wildcard platform/base/*.c)
SHM_SRC := $(wildcard shm/*.c) $(wildcard shm/monitor/*.c)
CORE_SRC := $(wildcard core/*/*.c)
ALL_LIB_SRC := $(PLATFORM_SRC) $(SHM_SRC) $(CORE_SRC)

# libnx: what a client needs, without liburcu or hwloc.
LIBNX_SRC := platform/base/errno.c platform/base/backoff.c \
	shm/client.c shm/retry.c shm/channel.c shm/names.c shm/health_map.c shm/attach.c \
	shm/ctl_frame.c \
	platform/linux/err.c platform/linux/log.c platform/linux/clock.c \
	platform/linux/futex.c platform/linux/shm.c platform/linux/ctl.c platform/linux/file.c \
	platform/linux/thread.c platform/linux/mem.c
# libnx's objects are its own build of those files: hidden by default, so
# that the library exports what include/nx/nx.h marks NX_API and no more
# (shm/libnx.map says the same to the linker). The static libraries keep
# the ordinary objects: nxd exports its stage API to plugins (-rdynamic).
LIBNX_OBJDIR := $(BUILD)/obj-nx
LIBNX_OBJ := $(LIBNX_SRC:%.c=$(LIBNX_OBJDIR)/%.o)
LIBNX_MAP := shm/libnx.map
CORE_OBJ := $(ALL_LIB_SRC:%.c=$(OBJ)/%.o)

LIBNX_SO := $(LIB)/libnx.so
# the soname is the public header's interface version (not the shared
# memory's or the control protocol's: shm/abi/version.h)
LIBNX_SONAME := libnx.so.$(shell sed -n 's/^\#define NX_ABI_VERSION \([0-9]*\)/\1/p' include/nx/nx.h)
LIBNX_A := $(LIB)/libnx.a
LIBCORE_A := $(LIB)/libnxcore.a

# every directory under tools/ is a program of that name, of all its .c files
TOOLS := $(notdir $(wildcard tools/*))
TOOL_BINS := $(TOOLS:%=$(BIN)/%) $(BIN)/nxbench $(BIN)/nxdemo
BENCH_BINS := $(if $(SAN),,$(BIN)/nxd-nocounters)
EXAMPLE_PLUGINS := $(LIB)/nx-upper.so

# reference stage packages (stages/*/): the retrieval stages as a plugin,
# and as an archive (all but the plugin's file) for tests and built-ins
RETR_SRC := $(filter-out stages/retrieval/plugin.c,$(wildcard stages/retrieval/*.c))
RETR_HDR := $(wildcard stages/retrieval/*.h) include/nx/nx_stage.h
RETR_SO := $(LIB)/nx-retrieval.so
RETR_A := $(LIB)/libnxretrieval.a
STAGE_CFLAGS := -std=gnu11 $(WARN) $(OPT) -fPIC -D_GNU_SOURCE -Iinclude -I. \
	$(filter -fsanitize=%,$(CFLAGS_ALL))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(TST)/unit/%)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BINS := $(INTEG_SRC:tests/integration/%.c=$(TST)/integration/%)
STRESS_SRC := $(wildcard tests/stress/test_*.c)
STRESS_BINS := $(STRESS_SRC:tests/stress/%.c=$(TST)/stress/%)
HOSTILE_SRC := $(wildcard tests/hostile/test_*.c)
HOSTILE_BINS := $(HOSTILE_SRC:tests/hostile/%.c=$(TST)/hostile/%)
HARNESS_SRC := $(wildcard tests/integration/harness/*.c)
HARNESS_OBJ := $(HARNESS_SRC:%.c=$(OBJ)/%.o)
TEST_HELPERS := $(patsubst tests/helpers/%.c,$(TST)/helpers/%,$(wildcard tests/helpers/*.c))
TEST_SO := $(patsubst tests/preload/%.c,$(TST)/preload/%.so,$(wildcard tests/preload/*.c)) \
	$(patsubst tests/plugins/%.c,$(TST)/plugins/%.so,$(wildcard tests/plugins/*.c))

.PHONY: all deps test test-stress demo bench asan tsan install clean headers-check clang layout-check
all: $(LIBNX_SO) $(LIBNX_A) $(LIBCORE_A) $(TOOL_BINS) $(BENCH_BINS) $(LIB)/nx.pc $(EXAMPLE_PLUGINS) \
	$(LIB)/retrieval.conf $(RETR_SO) $(RETR_A)

deps:
	$(Q)scripts/install-deps.sh

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIBNX_OBJDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (libnx)")
	$(Q)$(CC) $(CFLAGS_ALL) -fvisibility=hidden -MMD -MP -c $< -o $@

$(LIBNX_SO): $(LIBNX_OBJ) $(LIBNX_MAP)
	@mkdir -p $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,$(LIBNX_SONAME) -Wl,--version-script=$(LIBNX_MAP) \
		-o $@.$(patsubst libnx.so.%,%,$(LIBNX_SONAME)) $(LIBNX_OBJ) $(LDFLAGS_ALL) -lpthread
	$(Q)ln -sf $(notdir $@).$(patsubst libnx.so.%,%,$(LIBNX_SONAME)) $@

$(LIBNX_A): $(LIBNX_SRC:%.c=$(OBJ)/%.o)
	@mkdir -p $(LIB)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBCORE_A): $(CORE_OBJ)
	@mkdir -p $(LIB)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIB)/nx.pc: scripts/nx.pc.in
	@mkdir -p $(LIB)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|g' $< > $@

# the reference retrieval configuration: nxd takes literal paths, so the
# built plugin's (absolute) and the corpus's are written in
RETRIEVAL_CORPUS ?= /usr/share/wordnet
$(LIB)/retrieval.conf: examples/retrieval.conf Makefile
	@mkdir -p $(LIB)
	$(Q)sed -e 's|@PLUGIN@|$(abspath $(LIB))/nx-retrieval.so|g' \
		-e 's|@CORPUS@|$(RETRIEVAL_CORPUS)|g' $< > $@

# ---- tools: thin mains over the libraries ----
# -rdynamic and -u: plugins call the stage API in nxd, all of it linked in
STAGE_API := -Wl,-u,nx_ctx_set -Wl,-u,nx_ctx_get -Wl,-u,nx_stage_conf_get -Wl,-u,nx_strerror
# libraries a tool needs beyond the core's
TOOL_LIBS_nxtop := $(shell pkg-config --libs $(PKG_TOP) 2>/dev/null)
HAVE_SYSTEMD := $(shell pkg-config --exists libsystemd 2>/dev/null && echo 1)
ifeq ($(HAVE_SYSTEMD),1)
TOOL_LIBS_nxwd := $(shell pkg-config --libs libsystemd)
$(OBJ)/tools/nxwd/%.o: CFLAGS_ALL += -DNX_HAVE_SYSTEMD=1 $(shell pkg-config --cflags libsystemd)
endif
$(OBJ)/tools/nxtop/%.o: CFLAGS_ALL += $(shell pkg-config --cflags $(PKG_TOP) 2>/dev/null)

tool_objs = $(patsubst %.c,$(OBJ)/%.o,$(wildcard tools/$(1)/*.c))
.SECONDARY:
.SECONDEXPANSION:
$(BIN)/%: $$(call tool_objs,$$*) $(LIBCORE_A)
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -rdynamic $(STAGE_API) -o $@ $(filter %.o,$^) $(LIBCORE_A) $(LIBS_CORE) $(TOOL_LIBS_$*)

# nxd with the data path's counters compiled out: nxbench's nxnc baseline
NC_OBJ := $(BUILD)/obj-nocounters
$(NC_OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (no counters)")
	$(Q)$(CC) $(CFLAGS_ALL) -DNX_NO_COUNTERS=1 -MMD -MP -c $< -o $@

$(BIN)/nxd-nocounters: $(patsubst %.c,$(NC_OBJ)/%.o,$(wildcard tools/nxd/*.c) $(ALL_LIB_SRC))
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -rdynamic $(STAGE_API) -o $@ $(filter %.o,$^) $(LIBS_CORE)

# Each of nxbench's functions starts on a 64-byte boundary: a change to
# one baseline then moves no other one's loops within their lines (the
# same loop placed differently moved ck's p50 between builds of the same
# code; libnx's nx_call is placed the same way, shm/client.c).
$(OBJ)/bench/%.o: CFLAGS_ALL += -falign-functions=64

$(BIN)/nxbench: $(OBJ)/bench/nxbench.o $(patsubst %.c,$(OBJ)/%.o,$(filter-out bench/nxbench.c,$(wildcard bench/*.c))) $(LIBCORE_A)
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(LIBCORE_A) $(LIBS_CORE)

$(BIN)/nxdemo: $(OBJ)/examples/nxdemo.o $(LIBCORE_A)
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBCORE_A) $(LIBS_CORE)

# ---- tests ----
# the retrieval stages' test calls their internals and runs them as built-ins
$(TST)/unit/test_retrieval: $(OBJ)/tests/unit/test_retrieval.o $(RETR_A) $(LIBCORE_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(RETR_A) $(LIBCORE_A) $(LIBS_CORE) -lm $(shell pkg-config --libs $(PKG_TEST))

$(TST)/unit/%: $(OBJ)/tests/unit/%.o $(LIBCORE_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBCORE_A) $(LIBS_CORE) $(shell pkg-config --libs $(PKG_TEST))

$(TST)/integration/%: $(OBJ)/tests/integration/%.o $(HARNESS_OBJ) $(LIBCORE_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(HARNESS_OBJ) $(LIBCORE_A) $(LIBS_CORE) $(shell pkg-config --libs $(PKG_TEST))

$(TST)/hostile/%: $(OBJ)/tests/hostile/%.o $(HARNESS_OBJ) $(LIBCORE_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(HARNESS_OBJ) $(LIBCORE_A) $(LIBS_CORE) $(shell pkg-config --libs $(PKG_TEST))

$(TST)/stress/%: $(OBJ)/tests/stress/%.o $(LIBCORE_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBCORE_A) $(LIBS_CORE) $(shell pkg-config --libs $(PKG_TEST))

$(TST)/helpers/%: $(OBJ)/tests/helpers/%.o $(LIBCORE_A)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBCORE_A) $(LIBS_CORE)

# preloaded interposers are never sanitized: they replace malloc
$(TST)/preload/%.so: tests/preload/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 $(WARN) -O2 -g -fPIC -shared -D_GNU_SOURCE -o $@ $< -ldl -lpthread

# the example plugin (README), built as a stage author would
$(LIB)/nx-%.so: examples/%.c include/nx/nx_stage.h
	@mkdir -p $(LIB)
	@$(if $(Q),echo "  PLUGIN  $@")
	$(Q)$(CC) -std=gnu11 $(WARN) $(OPT) -fPIC -shared -Iinclude $(filter -fsanitize=%,$(CFLAGS_ALL)) -o $@ $<

# the retrieval stages: built as a stage author would, against the public
# header and their own; libm for the index's idf
$(RETR_SO): $(RETR_SRC) stages/retrieval/plugin.c $(RETR_HDR)
	@mkdir -p $(LIB)
	@$(if $(Q),echo "  PLUGIN  $@")
	$(Q)$(CC) $(STAGE_CFLAGS) -shared -o $@ $(filter %.c,$^) -lm

$(OBJ)/stages/%.o: stages/%.c $(RETR_HDR)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(STAGE_CFLAGS) -c $< -o $@

$(RETR_A): $(RETR_SRC:%.c=$(OBJ)/%.o)
	@mkdir -p $(LIB)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# test plugins: built as a stage author would, against the public header
$(TST)/plugins/%.so: tests/plugins/%.c include/nx/nx_stage.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 $(WARN) $(OPT) -fPIC -shared -D_GNU_SOURCE -Iinclude $(filter -fsanitize=%,$(CFLAGS_ALL)) -o $@ $<

# every public header compiles alone (tests/headers/check.sh)
headers-check:
	$(Q)tests/headers/check.sh

# the seams (tests/layout/check.py): core/ OS-free, no include or call
# cycle between files, layers one way; over the sources and the objects
layout-check: all
	$(Q)python3 tests/layout/check.py --src . --obj $(OBJ)

TEST_BINS := $(UNIT_BINS) $(STRESS_BINS) $(INTEG_BINS) $(HOSTILE_BINS) $(TEST_HELPERS) $(TEST_SO)

tests: all $(TEST_BINS)

test: deps
	$(Q)$(MAKE) --no-print-directory tests headers-check
	$(Q)BUILD=$(BUILD) SAN=$(SAN) tests/run.sh

# the whole suite NX_REPEAT times (10), then NX_REPEAT_LOADED times (3) under stress-ng
test-stress: deps
	$(Q)$(MAKE) --no-print-directory tests headers-check
	$(Q)BUILD=$(BUILD) SAN=$(SAN) scripts/test-stress.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) scripts/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(BIN)/nxbench $(BENCH_ARGS)

asan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SAN=asan test

tsan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-tsan SAN=tsan test

clang:
	$(Q)$(MAKE) --no-print-directory BUILD=build-clang CC=clang all tests

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/nx \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(LIBNX_SO).$(patsubst libnx.so.%,%,$(LIBNX_SONAME)) $(DESTDIR)$(PREFIX)/lib/
	ln -sf $(LIBNX_SONAME) $(DESTDIR)$(PREFIX)/lib/libnx.so
	install -m 0644 $(LIBNX_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 include/nx/*.h $(DESTDIR)$(PREFIX)/include/nx/
	install -m 0644 $(LIB)/nx.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 0755 $(TOOL_BINS) $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0644 systemd/nxwd@.service $(DESTDIR)$(PREFIX)/lib/systemd/system/

clean:
	rm -rf build build-asan build-tsan build-clang

include mk/nxexport.mk
-include tests/fuzz/fuzz.mk
include mk/python.mk
-include $(shell find $(BUILD)/obj $(NC_OBJ) $(LIBNX_OBJDIR) -name '*.d' 2>/dev/null)
