# SPDX-License-Identifier: MIT
# Debian 12 packages Flux needs, and the `deps` step that `run` and `test` share:
# as root it installs what is missing; otherwise it prints the one apt-get line and stops.

DEB_PKGS := gcc make pkg-config libc6-dev binutils \
	libmodbus-dev liburing-dev libcmocka-dev libyaml-dev \
	clang libclang-rt-14-dev rt-tests mbpoll \
	bpftool libbpf-dev libelf-dev zlib1g-dev systemtap-sdt-dev bpftrace \
	libsystemd-dev systemd \
	gnuplot-nox stress-ng python3 python3-pymodbus python3-serial \
	clang-format cppcheck \
	debhelper dpkg-dev lintian man-db groff-base
# make deb and tests/deploy/deb.sh: debhelper (dh, compat 13: dh_installsystemd,
# dh_installsysusers, dh_installtmpfiles), dpkg-dev (dpkg-buildpackage, dpkg-architecture),
# lintian (the package's checks); man-db (man -w, man -l) and groff-base (the man pages of
# docs/man/ are hand-written roff: groff -man -ww checks them; no other tool builds them).

print-deps:
	@echo $(DEB_PKGS)

deps:
	@missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
			|| echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	missing=$$(echo $$missing); \
	if [ "$$(id -u)" = 0 ]; then \
		echo "deps: installing $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq $$missing >/dev/null \
			|| { echo "deps: apt-get install failed"; exit 1; }; \
	else \
		echo "deps: missing Debian packages. Run:"; \
		echo "  sudo apt-get install -y $$missing"; \
		exit 1; \
	fi
