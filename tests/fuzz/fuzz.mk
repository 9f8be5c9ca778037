# tests/fuzz/fuzz.mk - the fuzz targets (tests/fuzz/README.md); the Makefile
# includes it.
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="spec ctl"]
#       build every tests/fuzz/fuzz_<name>.c with clang -fsanitize=fuzzer,
#       address,undefined into build-fuzz/ and run each, one per CPU at a
#       time (FUZZ_JOBS), for FUZZ_SECONDS over build-fuzz/corpus/<name>
#       (its seeds copied in, what it finds kept there); crashes go to
#       build-fuzz/crashes/, with the command that turns one into a
#       regression test (tests/fuzz/regressions/<name>/). Fails when a
#       target crashed. The last line is "N passed, N failed", one per
#       target. FUZZ_SECONDS=0: the corpus once.
#   make fuzzreg
#       the same targets with tests/fuzz/driver.c as main, with $(CC) and
#       $(SAN), into $(BUILD)/tests/fuzzreg/ (part of `make tests`):
#       tests/fuzz/run-corpus.sh runs them over the corpora and regressions.
#   make fuzz-seeds
#       rewrite the seed corpora tests/fuzz/corpus/ (tests/fuzz/gen_seeds.c)

FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_DIR ?= build-fuzz
FUZZ_OBJ := $(FUZZ_DIR)/obj
FUZZ_LIB := $(FUZZ_DIR)/libnxcore-fuzz.a
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
# the project's flags without $(SAN)'s: the fuzz build has its own
FUZZ_CFLAGS := $(filter-out -fsanitize=% -fno-sanitize-recover=% -Iplatform/tsan,$(CFLAGS_ALL)) \
	-fsanitize=fuzzer-no-link $(FUZZ_SAN)
FUZZ_LIBS := $(LIBS_CORE)

# what a target links beyond the core libraries: fuzz_health runs nxtop's
# batch writers (JSON, Prometheus) on its snapshots
FUZZ_EXTRA_health := tools/nxtop/export.c tools/nxtop/format.c

FUZZREG := $(TST)/fuzzreg

.PHONY: fuzz fuzz-build fuzzreg fuzz-seeds

fuzz: deps
	$(Q)$(MAKE) --no-print-directory fuzz-build
	$(Q)FUZZ_DIR=$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run-fuzz.sh $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

fuzzreg: $(FUZZ_NAMES:%=$(FUZZREG)/fuzz_%)

# every crash ever found stays a test: built with the rest
tests: fuzzreg

$(FUZZ_OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (fuzz)")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_LIB): $(ALL_LIB_SRC:%.c=$(FUZZ_OBJ)/%.o)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

define fuzz_target_rules
$(FUZZ_DIR)/fuzz_$(1): $(FUZZ_OBJ)/tests/fuzz/fuzz_$(1).o $(FUZZ_EXTRA_$(1):%.c=$(FUZZ_OBJ)/%.o) $(FUZZ_LIB)
	@$$(if $$(Q),echo "  LINK    $$@ (libFuzzer)")
	$$(Q)$$(FUZZ_CC) -fsanitize=fuzzer $$(FUZZ_SAN) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) \
		$$(FUZZ_LIB) $$(FUZZ_LIBS)

$(FUZZREG)/fuzz_$(1): $(OBJ)/tests/fuzz/fuzz_$(1).o $(OBJ)/tests/fuzz/driver.o \
		$(FUZZ_EXTRA_$(1):%.c=$(OBJ)/%.o) $(LIBCORE_A)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LINK    $$@")
	$$(Q)$$(CC) $$(LDFLAGS_ALL) -o $$@ $$(filter %.o,$$^) $$(LIBCORE_A) $$(LIBS_CORE)
endef
$(foreach t,$(FUZZ_NAMES),$(eval $(call fuzz_target_rules,$(t))))

$(FUZZREG)/gen_seeds: $(OBJ)/tests/fuzz/gen_seeds.o $(LIBCORE_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBCORE_A) $(LIBS_CORE)

fuzz-seeds: $(FUZZREG)/gen_seeds
	@mkdir -p tests/fuzz/corpus
	$(Q)$< tests/fuzz/corpus

-include $(shell find $(FUZZ_OBJ) -name '*.d' 2>/dev/null)

# build-fuzz/ holds the grown corpora too: gone with the rest
clean: fuzz-clean
.PHONY: fuzz-clean
fuzz-clean:
	rm -rf $(FUZZ_DIR)
