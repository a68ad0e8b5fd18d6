# SPDX-License-Identifier: MIT
# eBPF: fluxtrace. Included by the top-level Makefile (it defines BUILD, Q, msg, CFLAGS).
#
#   build/bpf/vmlinux.h       the running kernel's types, from /sys/kernel/btf/vmlinux
#                             (VMLINUX_H=path: copy that file instead, e.g. for another kernel)
#   build/bpf/X.bpf.o         bpf/X.bpf.c compiled by clang for the BPF target (CO-RE: -g)
#   build/bpf/X.skel.h        bpftool gen skeleton of it
#   build/bin/fluxtrace       bpf/fluxtrace.c + the skeleton + rt/text.o, linked with libbpf
#
# The BPF objects never see CFLAGS: sanitizer and warning flags are for the host compiler.

BPFTOOL ?= bpftool
BPF_CLANG ?= clang
VMLINUX_H ?=
BTF_VMLINUX ?= /sys/kernel/btf/vmlinux

BPF_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' \
	-e 's/ppc64le/powerpc/' -e 's/riscv64/riscv/' -e 's/s390x/s390/' -e 's/loongarch64/loongarch/')
BPF_OUT := $(BUILD)/bpf
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(BPF_SRCS:bpf/%.bpf.c=$(BPF_OUT)/%.bpf.o)
BPF_SKELS := $(BPF_SRCS:bpf/%.bpf.c=$(BPF_OUT)/%.skel.h)
# The host's system include dirs (asm/ is under the multiarch one), as libbpf-bootstrap does:
# -target bpf does not search them by itself.
BPF_SYS_INCLUDES = $(shell $(BPF_CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')
BPF_CFLAGS = -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -I$(BPF_OUT) -Ibpf -iquote . \
	$(BPF_SYS_INCLUDES) -Wall -Werror -Wno-unused-function
BPF_LIBS := -lbpf -lelf -lz -lm

# Kept: the skeleton embeds it, and tests or bpftool may want to look at it.
.SECONDARY: $(BPF_OBJS)

.PHONY: bpf
bpf: $(BUILD)/bin/fluxtrace
all: $(BUILD)/bin/fluxtrace

$(BPF_OUT)/vmlinux.h:
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
ifneq ($(VMLINUX_H),)
	$(Q)cp $(VMLINUX_H) $@
else
	$(Q)if [ ! -r $(BTF_VMLINUX) ]; then \
		echo "bpf: $(BTF_VMLINUX) missing (kernel without BTF): pass VMLINUX_H=path"; exit 1; fi
	$(Q)$(BPFTOOL) btf dump file $(BTF_VMLINUX) format c > $@
endif

$(BPF_OUT)/%.bpf.o: bpf/%.bpf.c bpf/%.h rt/probe_list.h $(BPF_OUT)/vmlinux.h
	$(call msg,BPF,$@)
	@mkdir -p $(@D)
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BPF_OUT)/%.skel.h: $(BPF_OUT)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

# The loader is host code: CFLAGS (and sanitizers) apply; it finds its skeleton in BPF_OUT.
$(BPF_OUT)/fluxtrace.o: bpf/fluxtrace.c $(BPF_OUT)/fluxtrace.skel.h
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -I$(BPF_OUT) -c $< -o $@

$(BUILD)/bin/fluxtrace: $(BPF_OUT)/fluxtrace.o $(BUILD)/rt/text.o
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(BPF_LIBS)

-include $(BPF_OUT)/fluxtrace.d
