# SPDX-License-Identifier: MIT
# Flux: one entry point. `make help` lists the targets.
#
# Sources are found by folder: every .c in rt/ io/ devices/ control/ goes into
# build/libflux.a except the program mains listed in PROGS_SRCS; the programs' own parts in
# tools/ (the flux subcommands) go into build/libflux-tools.a, above it. Tests are
# tests/<folder>/test_*.c, one cmocka binary each; benchmarks are bench/bench_*.c.

.DELETE_ON_ERROR:
.SUFFIXES:
.DEFAULT_GOAL := all

include mk/deps.mk

BUILD ?= build
SAN ?=
CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config

override CFLAGS += -std=gnu11 -pthread -MMD -MP -I.
override CFLAGS += -Wall
override CFLAGS += -Wextra
override CFLAGS += -Werror
override CFLAGS += -Wshadow
override CFLAGS += -Wstrict-prototypes
override CFLAGS += -Wmissing-prototypes
override CFLAGS += -Wno-missing-field-initializers
override LDFLAGS += -pthread

ifeq ($(SAN),asan)
override CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
override LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(SAN),tsan)
override CFLAGS += -fsanitize=thread -fno-omit-frame-pointer
override LDFLAGS += -fsanitize=thread
endif

# Lazy (=) so that `make deps` works before the libraries are installed.
PKGS = libmodbus liburing yaml-0.1 libsystemd
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS = $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-5s %s\n' $(1) $(2)
endif

# Program mains (not part of the library) and the programs they make.
PROGS_SRCS := tools/flux.c control/fluxd.c
PROGS := $(BUILD)/bin/flux $(BUILD)/bin/fluxd

# Files whose code runs on an RT thread; `make check-rt` audits their objects.
RT_SRCS := io/codec.c io/codec_rtu.c io/serial.c io/engine_loop.c io/engine_ctl.c rt/cycle.c rt/ring_wait.c devices/profile.c \
	control/ctl_loop.c control/policy.c

LIB_SRCS := $(filter-out $(PROGS_SRCS),$(wildcard rt/*.c io/*.c devices/*.c control/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libflux.a
TOOLS_SRCS := $(filter-out $(PROGS_SRCS),$(wildcard tools/*.c))
TOOLS_OBJS := $(TOOLS_SRCS:%.c=$(BUILD)/%.o)
TOOLS_LIB := $(BUILD)/libflux-tools.a

TEST_SUPPORT_SRCS := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJS := $(TEST_SUPPORT_SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS := $(sort $(wildcard tests/*/test_*.c))
TESTS := $(TEST_SRCS:%.c=$(BUILD)/%)
FUZZ_SRCS := $(sort $(wildcard tests/*/fuzz_*.c))
# Fuzz targets also build as plain corpus-replay tests (tests/fuzz_replay.c
# gives them a main) so `make test` runs them under every build variant.
FUZZ_REPLAYS := $(FUZZ_SRCS:%.c=$(BUILD)/%)
BENCH_SRCS := $(sort $(wildcard bench/bench_*.c))
BENCHES := $(BENCH_SRCS:%.c=$(BUILD)/%)
# Tools the bench scripts (bench/run-*.sh) drive: load clients and servers.
BENCH_TOOLS := $(patsubst %.c,$(BUILD)/%,$(sort $(wildcard bench/modbus_*.c)))

ALL_OBJS := $(LIB_OBJS) $(TOOLS_OBJS) $(TEST_SUPPORT_OBJS) $(PROGS_SRCS:%.c=$(BUILD)/%.o) \
	$(BUILD)/tests/fuzz_replay.o

.PHONY: all run test bench asan tsan fuzz format format-check lint hdrcheck check-rt \
	install uninstall deb clean help deps print-deps

all: $(LIB) $(TOOLS_LIB) $(PROGS) $(TESTS) $(FUZZ_REPLAYS) $(BENCHES) $(BENCH_TOOLS)

$(BUILD)/%.o: %.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(TOOLS_LIB): $(TOOLS_OBJS)
	$(call msg,AR,$@)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/bin/flux: $(BUILD)/tools/flux.o $(TOOLS_LIB) $(LIB)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/bin/fluxd: $(BUILD)/control/fluxd.o $(LIB)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(TESTS): $(BUILD)/%: $(BUILD)/%.o $(TEST_SUPPORT_OBJS) $(TOOLS_LIB) $(LIB)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(TEST_SUPPORT_OBJS) $(TOOLS_LIB) $(LIB) $(CMOCKA_LIBS) \
		$(PKG_LIBS) -lm

$(FUZZ_REPLAYS): $(BUILD)/%: $(BUILD)/%.o $(BUILD)/tests/fuzz_replay.o $(TOOLS_LIB) $(LIB)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BENCHES) $(BENCH_TOOLS): $(BUILD)/%: $(BUILD)/%.o $(LIB)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# eBPF: fluxtrace and its skeletons (mk/bpf.mk adds itself to `all`).
-include mk/bpf.mk

-include $(ALL_OBJS:.o=.d) $(TESTS:=.d) $(FUZZ_REPLAYS:=.d) $(BENCHES:=.d) $(BENCH_TOOLS:=.d)

# The shipped profiles are built into this object (.incbin), which -MMD does not see.
$(BUILD)/devices/profiles_builtin.o $(FUZZ_BUILD)/devices/profiles_builtin.o: \
	$(wildcard devices/profiles/*.yaml)

# ---- the two commands -------------------------------------------------------

DURATION ?= 30
run: deps
	@$(MAKE) --no-print-directory $(BUILD)/bin/flux $(BUILD)/bin/fluxd
	@echo "make run: flux sim serves the PowerPack and Acuvim II of deploy/site.yaml on 127.0.0.1,"
	@echo "and a feeder Acuvim II on a simulated serial line (a pty, Modbus RTU 9600 8N1), time x60;"
	@echo "fluxd controls them (peak shaving); $(DURATION) s or Ctrl-C (DURATION=S)."
	$(Q)deploy/demo.sh $(BUILD) $(DURATION)

TEST_TIMEOUT ?= 300
test: deps
	@$(MAKE) --no-print-directory all
	$(Q)tests/run-tests.sh $(TEST_TIMEOUT) $(TESTS) $(FUZZ_REPLAYS)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=asan test

tsan: deps
	@$(MAKE) --no-print-directory BUILD=build-tsan SAN=tsan test

# QUICK=1: the short version of every benchmark (each script and program honours it).
bench: deps
	@$(MAKE) --no-print-directory $(BENCHES) $(BENCH_TOOLS)
	$(Q)set -e; mkdir -p bench/results; rm -f bench/results/bench_*.json; \
	for b in $(BENCHES); do echo "== $$b"; $$b --json bench/results/$$(basename $$b).json; done; \
	for s in $(sort $(wildcard bench/run-*.sh)); do echo "== $$s"; BUILD=$(BUILD) $$s; done; \
	echo "== bench/report.py"; python3 bench/report.py --build $(BUILD)

# ---- fuzzing (libFuzzer) ----------------------------------------------------
#
# Each tests/<dir>/fuzz_<name>.c runs for FUZZ_TIME seconds (FUZZ_TIME_fuzz_<name> overrides
# it for one target) from the seeds in tests/<dir>/corpus/<name>/, with the libFuzzer
# dictionary tests/<dir>/fuzz_<name>.dict if there is one; what it finds is kept in
# build-fuzz/corpus/fuzz_<name>/. The targets link the whole library, built again in
# build-fuzz/ with coverage and ASan+UBSan: a target calls whatever it needs, no list to keep.

FUZZ_TIME ?= 60
FUZZ_BUILD ?= build-fuzz
FUZZ_SAN := address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=gnu11 -g -O1 -pthread -I. -MMD -MP -fno-omit-frame-pointer -DFLUX_FUZZ
# What makes a run fail besides a crash or a leak: one input taking more than this, or memory.
FUZZ_FLAGS := -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
FUZZ_BINS := $(FUZZ_SRCS:%.c=$(FUZZ_BUILD)/%)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o) $(TOOLS_SRCS:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_LIB := $(FUZZ_BUILD)/libflux.a

$(FUZZ_BUILD)/%.o: %.c
	$(call msg,FZCC,$@)
	@mkdir -p $(@D)
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) $(PKG_CFLAGS) -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(FUZZ_BINS): $(FUZZ_BUILD)/%: $(FUZZ_BUILD)/%.o $(FUZZ_LIB)
	$(call msg,FUZZ,$@)
	$(Q)clang -fsanitize=fuzzer,$(FUZZ_SAN) -pthread -o $@ $^ $(PKG_LIBS) -lm

-include $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_BINS:=.d)

# binary:seconds for each target.
FUZZ_RUNS = $(foreach f,$(FUZZ_BINS),$(f):$(or $(FUZZ_TIME_$(notdir $(f))),$(FUZZ_TIME)))

# Fails when a target crashes, leaks, hangs or ends without libFuzzer's "#N<TAB>DONE" line;
# then its whole log is shown.
fuzz: deps $(FUZZ_BINS)
	$(Q)set -e; t0=$$(date +%s); for ft in $(FUZZ_RUNS); do \
		f=$${ft%:*}; secs=$${ft##*:}; name=$$(basename $$f); \
		dir=$$(dirname $${f#$(FUZZ_BUILD)/}); corpus=$$dir/corpus/$${name#fuzz_}; \
		work=$(FUZZ_BUILD)/corpus/$$name; log=$(FUZZ_BUILD)/$$name.log; \
		dict=$$dir/$$name.dict; opts=; if [ -f $$dict ]; then opts=-dict=$$dict; fi; \
		mkdir -p $$work; \
		echo "== $$name for $$secs s (seeds: $$corpus$${opts:+, $$dict})"; \
		rc=0; $$f $(FUZZ_FLAGS) $$opts -max_total_time=$$secs $$work $$corpus >$$log 2>&1 \
			|| rc=$$?; \
		grep -E '^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+[[:space:]]+DONE|==[0-9]+==ERROR|SUMMARY)' $$log || true; \
		why=; if [ $$rc -ne 0 ]; then why="exit $$rc"; \
		elif ! grep -Eq '^#[0-9]+[[:space:]]+DONE' $$log; then why="no DONE line"; fi; \
		if [ -n "$$why" ]; then cat $$log; echo "fuzz: $$name FAILED ($$why; $$log)"; exit 1; fi; \
	done; echo "fuzz: $(words $(FUZZ_BINS)) targets passed in $$(( $$(date +%s) - t0 )) s"
fuzz: SHELL := /bin/bash

# ---- checks -----------------------------------------------------------------

HEADERS := $(wildcard rt/*.h io/*.h devices/*.h control/*.h tools/*.h)
hdrcheck:
	$(Q)set -e; for h in $(HEADERS); do \
		printf '#include "%s"\n' $$h | \
			$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(PKG_CFLAGS) -x c -fsyntax-only - ; \
		echo "  HDR   $$h"; done

# Symbols RT code may never call. Allowed exceptions, each with its reason:
#   (none yet)
RT_DENY := malloc calloc realloc free printf fprintf puts syslog pthread_mutex_lock \
	pthread_cond_wait sleep usleep nanosleep poll select epoll_wait connect accept \
	read write recv send recvfrom sendto
check-rt: $(RT_SRCS:%.c=$(BUILD)/%.o)
	$(Q)bad=0; for o in $^; do \
		for s in $$(nm -u $$o | awk '{print $$2}' | sed 's/@.*//'); do \
			for d in $(RT_DENY); do if [ "$$s" = "$$d" ]; then \
				echo "check-rt: $$o calls $$s"; bad=1; fi; done; \
		done; done; \
	if [ $$bad = 0 ]; then echo "check-rt: $(words $^) RT object(s) clean"; fi; exit $$bad

CLANG_FORMAT ?= clang-format
FORMAT_SRCS = $(wildcard rt/*.[ch] io/*.[ch] devices/*.[ch] control/*.[ch] tools/*.[ch] \
	bench/*.[ch] \
	tests/*/*.[ch])
format:
	$(Q)$(CLANG_FORMAT) -i $(FORMAT_SRCS)
format-check:
	$(Q)$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_SRCS)

lint:
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--inline-suppr --suppressions-list=mk/cppcheck.supp -I. \
		rt io devices control tools
	$(Q)mk/layers.sh
	$(Q)CC="$(CC)" mk/probes.sh
	$(Q)if command -v codespell >/dev/null; then codespell -L nd,adress rt io devices control tools tests bench \
		README.md docs; else echo "lint: codespell not installed, skipped"; fi

# ---- install ----------------------------------------------------------------
#
# make install [DESTDIR=] [PREFIX=/usr/local]: programs in PREFIX/bin, flux-rt-tune in
# PREFIX/sbin, the unit in PREFIX/lib/systemd/system (UNITDIR=; systemd searches
# /usr/local/lib/systemd/system, and a package's PREFIX=/usr gives /usr/lib/systemd/system:
# either way the unit lives beside the binary it starts, and uninstall finds it), the
# sysusers.d file, bpftrace scripts in PREFIX/share/flux/bpf, docs in PREFIX/share/doc/flux,
# and the example config as SYSCONFDIR/flux/site.yaml (SYSCONFDIR=/etc: the unit reads it
# there whatever the PREFIX), never over an existing one. The unit and the sysusers file
# get the real paths. Nothing outside DESTDIR is touched: no daemon-reload, no useradd.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DATADIR ?= $(PREFIX)/share/flux
DOCDIR ?= $(PREFIX)/share/doc/flux
SYSCONFDIR ?= /etc
INSTALL ?= install
INSTALL_PROGS := fluxd flux fluxtrace
INSTALL_BT := $(notdir $(wildcard bpf/*.bt))
INSTALL_PROFILES := $(notdir $(wildcard devices/profiles/*.yaml))
INSTALL_DOCS := README.md LICENSE deploy/fluxd-serial.conf
# Man pages: hand-written roff (man(7)), docs/man/NAME.SECTION -> MANDIR/manSECTION/.
MANDIR ?= $(PREFIX)/share/man
MAN_PAGES := $(wildcard docs/man/*.[158])

install: $(PROGS)
	$(Q)set -e; d='$(DESTDIR)'; \
	$(INSTALL) -d "$$d$(BINDIR)" "$$d$(SBINDIR)" "$$d$(UNITDIR)" "$$d$(SYSUSERSDIR)" \
		"$$d$(DATADIR)/bpf" "$$d$(DATADIR)/profiles" "$$d$(DOCDIR)" "$$d$(SYSCONFDIR)/flux"; \
	for p in $(INSTALL_PROGS); do \
		if [ -x $(BUILD)/bin/$$p ]; then \
			echo "  INST  $(BINDIR)/$$p"; \
			$(INSTALL) -m 0755 $(BUILD)/bin/$$p "$$d$(BINDIR)/$$p"; \
		else echo "  SKIP  $(BINDIR)/$$p ($(BUILD)/bin/$$p not built)"; fi; \
	done; \
	echo "  INST  $(SBINDIR)/flux-rt-tune"; \
	$(INSTALL) -m 0755 deploy/rt-tune.sh "$$d$(SBINDIR)/flux-rt-tune"; \
	echo "  INST  $(UNITDIR)/fluxd.service"; \
	sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/usr/local/share/doc/flux/|$(DOCDIR)/|g' \
		-e 's|/etc/flux/|$(SYSCONFDIR)/flux/|g' deploy/fluxd.service \
		> "$$d$(UNITDIR)/fluxd.service"; \
	chmod 0644 "$$d$(UNITDIR)/fluxd.service"; \
	echo "  INST  $(SYSUSERSDIR)/flux.conf"; \
	$(INSTALL) -m 0644 deploy/flux.conf "$$d$(SYSUSERSDIR)/flux.conf"; \
	for f in $(INSTALL_BT); do $(INSTALL) -m 0644 bpf/$$f "$$d$(DATADIR)/bpf/$$f"; done; \
	echo "  INST  $(DATADIR)/bpf/ ($(words $(INSTALL_BT)) bpftrace scripts)"; \
	for f in $(INSTALL_PROFILES); do \
		$(INSTALL) -m 0644 devices/profiles/$$f "$$d$(DATADIR)/profiles/$$f"; done; \
	echo "  INST  $(DATADIR)/profiles/ ($(words $(INSTALL_PROFILES)) device profiles, also built in)"; \
	for f in $(INSTALL_DOCS); do \
		if [ -f $$f ]; then $(INSTALL) -m 0644 $$f "$$d$(DOCDIR)/$$(basename $$f)"; fi; done; \
	$(INSTALL) -d "$$d$(DOCDIR)/docs"; \
	for f in $(wildcard docs/*.md); do $(INSTALL) -m 0644 $$f "$$d$(DOCDIR)/$$f"; done; \
	echo "  INST  $(DOCDIR)/"; \
	for f in $(MAN_PAGES); do s=$${f##*.}; $(INSTALL) -d "$$d$(MANDIR)/man$$s"; \
		$(INSTALL) -m 0644 $$f "$$d$(MANDIR)/man$$s/$${f##*/}"; done; \
	echo "  INST  $(MANDIR)/ ($(words $(MAN_PAGES)) man pages)"; \
	if [ -e "$$d$(SYSCONFDIR)/flux/site.yaml" ]; then \
		echo "  KEEP  $(SYSCONFDIR)/flux/site.yaml (exists; the example is $(DOCDIR)/site.yaml)"; \
	else \
		echo "  INST  $(SYSCONFDIR)/flux/site.yaml (the example: edit it for the site)"; \
		$(INSTALL) -m 0644 deploy/site.yaml "$$d$(SYSCONFDIR)/flux/site.yaml"; fi; \
	$(INSTALL) -m 0644 deploy/site.yaml "$$d$(DOCDIR)/site.yaml"; \
	if [ -z "$$d" ]; then echo "next: systemd-sysusers; systemctl daemon-reload;" \
		"systemctl enable --now fluxd (see $(DOCDIR)/docs/deploy.md)"; fi

# Removes what install put there. The config stays if it was edited (it is the site's).
uninstall:
	$(Q)set -e; d='$(DESTDIR)'; \
	for p in $(INSTALL_PROGS); do rm -f "$$d$(BINDIR)/$$p"; done; \
	rm -f "$$d$(SBINDIR)/flux-rt-tune" "$$d$(UNITDIR)/fluxd.service" \
		"$$d$(SYSUSERSDIR)/flux.conf"; \
	rm -rf "$$d$(DATADIR)" "$$d$(DOCDIR)"; \
	for f in $(notdir $(MAN_PAGES)); do rm -f "$$d$(MANDIR)/man$${f##*.}/$$f"; done; \
	conf="$$d$(SYSCONFDIR)/flux/site.yaml"; \
	if [ -f "$$conf" ] && cmp -s "$$conf" deploy/site.yaml; then rm -f "$$conf"; \
	elif [ -f "$$conf" ]; then echo "  KEEP  $(SYSCONFDIR)/flux/site.yaml (edited)"; fi; \
	rmdir "$$d$(SYSCONFDIR)/flux" 2>/dev/null || true; \
	echo "  RM    fluxd, flux, fluxtrace, flux-rt-tune, fluxd.service, $(DATADIR), $(DOCDIR), man pages"

# make deb [DEB_VERSION=] [DEB_DIR=$(BUILD)/deb]: DEB_DIR/flux_VERSION_ARCH.deb, by
# dpkg-buildpackage and debhelper from deploy/debian/. The tracked files of the work tree
# (edits included, untracked files not) are copied to DEB_DIR/src/ with deploy/debian/ as its
# debian/; the repository gets no file. DEB_VERSION defaults to deploy/debian/version.sh's
# (git describe; 0.0~gitYYYYMMDD.N.HASH before the first v* tag). DEB_DIR/src/build-pkg/ keeps
# the objects from one `make deb` to the next; the .deb of the one before is removed.
DEB_DIR ?= $(BUILD)/deb
DEB_VERSION ?=
deb: deps
	$(Q)set -e; v='$(DEB_VERSION)'; [ -n "$$v" ] || v=$$(deploy/debian/version.sh); \
	src='$(DEB_DIR)/src'; mkdir -p "$$src"; \
	find "$$src" -mindepth 1 -maxdepth 1 ! -name build-pkg -exec rm -rf {} +; \
	rm -f '$(DEB_DIR)'/flux_* '$(DEB_DIR)'/flux-dbgsym_*; \
	git ls-files -z | tar --null -T - --ignore-failed-read -cf - | tar -xpf - -C "$$src"; \
	cp -pR deploy/debian "$$src/debian"; rm -f "$$src/debian/changelog.in" "$$src/debian/version.sh"; \
	t=$$(git log -1 --format=%ct); \
	sed -e "s|@VERSION@|$$v|" -e "s|@COMMIT@|$$(git rev-parse --short=7 HEAD)|" \
		-e "s|@DATE@|$$(LC_ALL=C date -u -R -d @$$t)|" deploy/debian/changelog.in \
		> "$$src/debian/changelog"; \
	echo "  DEB   $(DEB_DIR)/flux_$${v}_$$(dpkg-architecture -qDEB_HOST_ARCH).deb"; \
	(cd "$$src" && dpkg-buildpackage -b -us -uc -nc -j$$(nproc)) > '$(DEB_DIR)/build.log' 2>&1 \
		|| { tail -n 40 '$(DEB_DIR)/build.log'; echo "deb: failed: $(DEB_DIR)/build.log"; exit 1; }

clean:
	$(Q)rm -rf build build-asan build-tsan build-fuzz

help:
	@echo "Flux make targets:"
	@echo "  all           build library, programs, tests and benchmarks (default)"
	@echo "  run           build and run fluxd against simulated devices on 127.0.0.1 (DURATION=S)"
	@echo "  test          build and run every test (cmocka), print totals"
	@echo "  asan | tsan   the same tests built with ASan+UBSan | TSan (build-asan/, build-tsan/)"
	@echo "  bench         run the benchmarks in bench/"
	@echo "  fuzz          run each libFuzzer target for FUZZ_TIME seconds (default 60)"
	@echo "  check-rt      fail if RT objects call allocation, stdio, locks or blocking calls"
	@echo "  hdrcheck      compile every public header on its own"
	@echo "  format | format-check | lint"
	@echo "  deps          install missing Debian packages (as root) or print the apt-get line"
	@echo "  install       install programs, unit, config, scripts (DESTDIR, PREFIX=/usr/local)"
	@echo "  uninstall     remove them again (an edited /etc/flux/site.yaml stays)"
	@echo "  deb           the Debian package: BUILD/deb/flux_VERSION_ARCH.deb (DEB_VERSION=)"
	@echo "  clean"
	@echo "Variables: V=1 full commands, CC, CFLAGS, BUILD, DURATION, FUZZ_TIME, QUICK,"
	@echo "  DESTDIR, PREFIX, UNITDIR, SYSCONFDIR (install)"
