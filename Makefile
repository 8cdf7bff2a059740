# lst: Ladder Side-Tuning in C.
#   make            build/lst (CLI) and build/liblst.a (library)
#   make test       build and run the test suite (last line: N passed, N failed)
#   make sanitize   the test suite under AddressSanitizer + UBSan (build-asan/)
#   make valgrind   lst dump under valgrind, failing on any leak
BUILD    ?= build
CC       ?= cc
CXX      ?= c++
OPT      ?= -O2
CFLAGS   += $(OPT) -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
            -I/usr/include/x86_64-linux-gnu -Iinclude -fopenmp $(SANFLAGS)
CXXFLAGS += $(OPT) -g -std=c++17 -Wall -Wextra $(SANFLAGS)
LDLIBS   += -lopenblas -lcjson -lsentencepiece -lstdc++ -lm -fopenmp $(SANFLAGS)

LIB_C    := $(sort $(wildcard src/core/*.c src/io/*.c src/ops/cpu/*.c src/model/*.c src/train/*.c))
LIB_CC   := $(sort $(wildcard src/io/*.cc))
CLI_C    := $(sort $(wildcard src/cli/*.c))
TEST_C   := $(sort $(wildcard tests/*.c))

LIB_O    := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_CC:%.cc=$(BUILD)/%.o)
CLI_O    := $(CLI_C:%.c=$(BUILD)/%.o)
TEST_O   := $(TEST_C:%.c=$(BUILD)/%.o)

all: $(BUILD)/lst $(BUILD)/liblst.a

$(BUILD)/liblst.a: $(LIB_O)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/lst: $(CLI_O) $(BUILD)/liblst.a
	$(CC) -o $@ $(CLI_O) $(BUILD)/liblst.a $(LDLIBS)

$(BUILD)/lst_tests: $(TEST_O) $(BUILD)/liblst.a
	$(CC) -o $@ $(TEST_O) $(BUILD)/liblst.a $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/%.o: %.cc
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -MMD -MP -c -o $@ $<

test: $(BUILD)/lst $(BUILD)/lst_tests
	LST_BIN=$(BUILD)/lst $(BUILD)/lst_tests $(FILTER)

sanitize:
	$(MAKE) BUILD=build-asan OPT=-O1 \
	  SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

valgrind: $(BUILD)/lst
	valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
	  --error-exitcode=3 $(BUILD)/lst dump --model tests/data/t5-tiny-gated \
	  --batch tests/data/t5-tiny-gated/batch.safetensors --out /tmp/lst_valgrind_dump.safetensors
	@rm -f /tmp/lst_valgrind_dump.safetensors

clean:
	rm -rf build build-asan

.PHONY: all test sanitize valgrind clean
-include $(LIB_O:.o=.d) $(CLI_O:.o=.d) $(TEST_O:.o=.d)

# The main job on bundled defaults (see README).
demo: $(BUILD)/lst
	./scripts/demo.sh
.PHONY: demo
