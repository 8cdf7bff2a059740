# lst: Ladder Side-Tuning in C.
#   make            build/lst (CLI) and build/liblst.a (library)
#   make test       build and run the test suite (last line: N passed, N failed)
#   make sanitize   the test suite under AddressSanitizer + UBSan (build-asan/)
#   make valgrind   lst dump under valgrind, failing on any leak
BUILD    ?= build
CC       ?= cc
CXX      ?= c++
# GCC 12's -O2 vectoriser only takes loops whose trip count it knows; the
# element-wise loops here (no float reductions, so the same bits) need this
OPT      ?= -O2 -fvect-cost-model=dynamic
# -Wno-missing-field-initializers: {p, seed, stream} is a dropout site with
# no batch rows, {B, Ts, Td, ...} a batch that is not a share of a larger one
CFLAGS   += $(OPT) -g -std=c11 -D_GNU_SOURCE -fno-math-errno -Wall -Wextra -Wno-unused-parameter \
            -Wno-missing-field-initializers \
            -I/usr/include/x86_64-linux-gnu -Iinclude -fopenmp $(SANFLAGS) \
            -DLST_SOURCE_DIR='"$(CURDIR)"'   # the bundled tokenizer and GLUE data (src/cli/bundled.c)
CXXFLAGS += $(OPT) -g -std=c++17 -Wall -Wextra $(SANFLAGS)
LDLIBS   += -lopenblas -lcjson -lxxhash -lsentencepiece -lstdc++ -lm -fopenmp $(SANFLAGS)

LIB_C    := $(sort $(wildcard src/core/*.c src/io/*.c src/ops/*.c src/ops/cpu/*.c src/model/*.c src/model/t5/*.c src/train/*.c \
                            src/report/*.c))
LIB_CC   := $(sort $(wildcard src/io/*.cc))
CLI_C    := $(sort $(wildcard src/cli/*.c))
TEST_C   := $(sort $(wildcard tests/*.c))

LIB_O    := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_CC:%.cc=$(BUILD)/%.o)
CLI_O    := $(CLI_C:%.c=$(BUILD)/%.o)
TEST_O   := $(TEST_C:%.c=$(BUILD)/%.o)

all: $(BUILD)/lst $(BUILD)/liblst.a

# rebuilt from scratch: `ar r` on an old archive keeps the objects of
# renamed or deleted sources, which then clash at link time
$(BUILD)/liblst.a: $(LIB_O)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/lst: $(CLI_O) $(BUILD)/liblst.a
	$(CC) -o $@ $(CLI_O) $(BUILD)/liblst.a $(LDLIBS)

# The test build's copy of lst: the same objects but the file layer built with
# its fault-injection points (LST_FAULT=OP:N:before|after, see fileio.h), so
# the kill tests can stop it exactly around each rename. build/lst never has them.
FAULT_O  := $(BUILD)/fault/src/core/fileio.o
$(FAULT_O): src/core/fileio.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DLST_FAULT_INJECTION -MMD -MP -c -o $@ $<

$(BUILD)/lst-fault: $(CLI_O) $(FAULT_O) $(BUILD)/liblst.a
	$(CC) -o $@ $(CLI_O) $(FAULT_O) $(BUILD)/liblst.a $(LDLIBS)

# the tests also decode the figures they render (libpng: test_plot.c)
$(BUILD)/lst_tests: $(TEST_O) $(BUILD)/liblst.a
	$(CC) -o $@ $(TEST_O) $(BUILD)/liblst.a $(LDLIBS) -lpng

# The commit being built, for `lst --version`, run.json and metrics.json
# (src/core/version.c, by -D); commit.txt is rewritten only when it changes, so an
# unchanged tree rebuilds nothing.
LST_COMMIT_NOW := $(shell c=$$(git -C "$(CURDIR)" rev-parse --short=12 HEAD 2>/dev/null) && \
                    { git -C "$(CURDIR)" diff --quiet HEAD 2>/dev/null || c="$$c+dirty"; echo "$$c"; } || echo unknown)
$(BUILD)/commit.txt: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' "$(LST_COMMIT_NOW)" > $@.new; cmp -s $@.new $@ || mv $@.new $@; rm -f $@.new
$(BUILD)/src/core/version.o: $(BUILD)/commit.txt
$(BUILD)/src/core/version.o: CFLAGS += -DLST_COMMIT='"$(LST_COMMIT_NOW)"'
FORCE:
.PHONY: FORCE

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/%.o: %.cc
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -MMD -MP -c -o $@ $<

test: $(BUILD)/lst $(BUILD)/lst-fault $(BUILD)/lst_tests
	LST_BIN=$(BUILD)/lst LST_FAULT_BIN=$(BUILD)/lst-fault $(BUILD)/lst_tests $(FILTER)

sanitize:
	$(MAKE) BUILD=build-asan OPT=-O1 \
	  SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

valgrind: $(BUILD)/lst
	valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
	  --suppressions=tests/valgrind.supp \
	  --error-exitcode=3 $(BUILD)/lst dump --model tests/data/t5-tiny-gated \
	  --batch tests/data/t5-tiny-gated/batch.safetensors --out /tmp/lst_valgrind_dump.safetensors
	@rm -f /tmp/lst_valgrind_dump.safetensors

clean:
	rm -rf build build-asan

.PHONY: all test sanitize valgrind clean
-include $(LIB_O:.o=.d) $(CLI_O:.o=.d) $(TEST_O:.o=.d) $(FAULT_O:.o=.d)

# The main job on bundled defaults (see README).
demo: $(BUILD)/lst
	./scripts/demo.sh
.PHONY: demo

# Fuzzing (fuzz/README.md): libFuzzer targets fuzz/fuzz_<name>.c, built with
# clang + ASan + UBSan against the library into build-fuzz/, run from here.
#   make fuzz-smoke   each target FUZZ_SMOKE_SECONDS (15) over fuzz/corpus/<name>; fails on any report
#   make fuzz         the same for FUZZ_SECONDS (600) each
# New inputs go to build-fuzz/corpus/<name>, findings to build-fuzz/artifacts/.
FUZZ_BUILD         := build-fuzz
FUZZ_CC            ?= clang
FUZZ_CXX           ?= clang++
FUZZ_SECONDS       ?= 600
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_NAMES := $(patsubst fuzz/fuzz_%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))
FUZZ_BINS  := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_LIB_O := $(LIB_C:%.c=$(FUZZ_BUILD)/%.o) $(LIB_CC:%.cc=$(FUZZ_BUILD)/%.o) \
              $(FUZZ_BUILD)/src/cli/args.o

$(FUZZ_BUILD)/%: OPT = -O1
$(FUZZ_BUILD)/%: SANFLAGS = $(FUZZ_SAN)
$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
$(FUZZ_BUILD)/%.o: %.cc
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(CXXFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
$(FUZZ_BUILD)/liblst.a: $(FUZZ_LIB_O)
	rm -f $@
	$(AR) rcs $@ $^
# linked by clang++: UBSan's C++ checks in spm_bridge.cc need its runtime
$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/fuzz/fuzz_%.o $(FUZZ_BUILD)/liblst.a
	$(FUZZ_CXX) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
.SECONDARY: $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz/fuzz_%.o)

# $(1): seconds per target
define fuzz_run
	@set -e; for t in $(FUZZ_NAMES); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts; \
	  dict=; [ -f fuzz/$$t.dict ] && dict=-dict=fuzz/$$t.dict; \
	  echo "fuzz: $$t for $(1) s"; \
	  $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(1) -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
	    $$dict -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t \
	    > $(FUZZ_BUILD)/$$t.log 2>&1 || { tail -60 $(FUZZ_BUILD)/$$t.log; echo "fuzz: $$t FAILED"; exit 1; }; \
	  grep -E "stat::number_of_executed_units|stat::new_units_added" $(FUZZ_BUILD)/$$t.log | tr '\n' ' '; echo; \
	done
endef

fuzz-build: $(FUZZ_BINS)
fuzz-smoke: fuzz-build
	$(call fuzz_run,$(FUZZ_SMOKE_SECONDS))
fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_SECONDS))
fuzz-clean:
	rm -rf $(FUZZ_BUILD)
clean: fuzz-clean
.PHONY: fuzz fuzz-smoke fuzz-build fuzz-clean
-include $(FUZZ_LIB_O:.o=.d) $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz/fuzz_%.d)

# lst against the PyTorch peer (Debian python3-torch), same machine, same shapes (bench/README.md).
# Every method on SST-2 with the tiny model: Table 1 and Figure 6 (scripts/compare_demo.sh).
compare-demo: $(BUILD)/lst
	LST=$(BUILD)/lst scripts/compare_demo.sh
.PHONY: compare-demo

bench: $(BUILD)/lst
	LST_BIN=$(BUILD)/lst bench/run.sh
.PHONY: bench

# bf16 GEMM micro-benchmark (bench/gemm_bf16.c): cblas_sgemm vs cblas_sbgemm (if OpenBLAS exports
# it) vs lst_matmul_forward_bf16 on the backbone's shapes, 1 and 2 threads.
#   make bench-gemm [GEMM_ARGS="reps N K M ..."]
$(BUILD)/gemm_bf16: $(BUILD)/bench/gemm_bf16.o $(BUILD)/liblst.a
	$(CC) -o $@ $(BUILD)/bench/gemm_bf16.o $(BUILD)/liblst.a $(LDLIBS) -ldl
bench-gemm: $(BUILD)/gemm_bf16
	$(BUILD)/gemm_bf16 $(GEMM_ARGS)
.PHONY: bench-gemm

# What each frozen-backbone format changes against float32 (bench/quant_error.c): taps, logits,
# LST logits and side gradients on the golden models and a t5-base preset, one batch each.
#   make bench-quant
$(BUILD)/quant_error: $(BUILD)/bench/quant_error.o $(BUILD)/liblst.a
	$(CC) -o $@ $(BUILD)/bench/quant_error.o $(BUILD)/liblst.a $(LDLIBS)
bench-quant: $(BUILD)/quant_error $(BUILD)/lst
	LST_BIN=$(BUILD)/lst QUANT_ERROR=$(BUILD)/quant_error bench/quant_error.sh
.PHONY: bench-quant
