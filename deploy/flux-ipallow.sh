#!/bin/sh
# SPDX-License-Identifier: MIT
# flux-ipallow: print the fluxd.service drop-in that lets fluxd reach exactly the Modbus TCP
# hosts of a site config, and no other IP address. The shipped unit allows localhost only
# (IPAddressDeny=any, IPAddressAllow=localhost); this drop-in resets that list to the config's
# hosts. Install it, then re-run it whenever a device's host changes:
#   flux-ipallow -c /etc/flux/site.yaml > /etc/systemd/system/fluxd.service.d/ipallow.conf
#   systemctl daemon-reload && systemctl restart fluxd
# The config is checked with `fluxd --check-config` first (hosts are then IPv4 literals: fluxd
# resolves no names, so no DNS server needs allowing). Serial devices need no IP. Exit 0, 1 a
# config that does not check or a host that is not an IPv4 address, 2 usage.
set -eu

CONFIG=/etc/flux/site.yaml
FLUXD=
CHECK=yes

usage() {
	cat <<EOF
usage: flux-ipallow [-c FILE] [--fluxd PATH] [--no-check]
Print a fluxd.service drop-in allowing IP to the config's device hosts only.
  -c, --config FILE  the site config (default /etc/flux/site.yaml)
      --fluxd PATH   fluxd for --check-config (default: beside this script's
                     bin/, then PATH)
      --no-check     do not run fluxd --check-config first
  -h, --help
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	-c | --config)
		[ $# -ge 2 ] || { usage >&2; exit 2; }
		CONFIG=$2
		shift 2
		;;
	--fluxd)
		[ $# -ge 2 ] || { usage >&2; exit 2; }
		FLUXD=$2
		shift 2
		;;
	--no-check) CHECK=no; shift ;;
	-h | --help) usage; exit 0 ;;
	*) printf 'flux-ipallow: unknown argument: %s\n' "$1" >&2; usage >&2; exit 2 ;;
	esac
done

[ -r "$CONFIG" ] || { printf 'flux-ipallow: cannot read %s\n' "$CONFIG" >&2; exit 1; }

if [ "$CHECK" = yes ]; then
	if [ -z "$FLUXD" ]; then
		# Installed as PREFIX/sbin/flux-ipallow beside PREFIX/bin/fluxd.
		here=$(dirname "$0")
		if [ -x "$here/../bin/fluxd" ]; then
			FLUXD=$here/../bin/fluxd
		else
			FLUXD=$(command -v fluxd || true)
		fi
	fi
	if [ -z "$FLUXD" ] || ! [ -x "$FLUXD" ]; then
		echo "flux-ipallow: no fluxd to check the config (--fluxd PATH or --no-check)" >&2
		exit 1
	fi
	if ! out=$("$FLUXD" --check-config "$CONFIG" 2>&1); then
		printf '%s\n' "$out" >&2
		printf 'flux-ipallow: %s does not check: no drop-in printed\n' "$CONFIG" >&2
		exit 1
	fi
fi

# Every `host:` value, block (host: "a.b.c.d") or flow ({host: a.b.c.d, ...}) style, quoted or
# not; comments (# at a line's start or after a blank) removed first. A value that is not a
# dotted quad is refused rather than guessed at.
hosts=$(sed -e 's/^[[:space:]]*#.*//' -e 's/[[:space:]]#.*//' "$CONFIG" |
	grep -oE '(^|[[:space:]{,])["'\'']?host["'\'']?[[:space:]]*:[[:space:]]*[^,}[:space:]]+' |
	sed -E 's/.*:[[:space:]]*//; s/^["'\'']//; s/["'\'']$//' |
	awk '!seen[$0]++')
for h in $hosts; do
	if ! printf '%s\n' "$h" | grep -qE '^([0-9]{1,3}\.){3}[0-9]{1,3}$'; then
		printf 'flux-ipallow: %s: host "%s" is not an IPv4 address\n' "$CONFIG" "$h" >&2
		exit 1
	fi
done

printf '# fluxd.service drop-in printed by flux-ipallow from %s\n' "$CONFIG"
printf '# IP to these device hosts only (re-run it when a host changes). Nothing else: no\n'
printf '# localhost, no DNS; the status socket and the journal are Unix sockets.\n'
printf '[Service]\nIPAddressDeny=any\n'
printf '# The empty assignment resets the unit'\''s IPAddressAllow=localhost.\nIPAddressAllow=\n'
if [ -z "$hosts" ]; then
	printf '# No Modbus TCP host in the config (serial devices only): no IP at all.\n'
fi
for h in $hosts; do
	printf 'IPAddressAllow=%s\n' "$h"
done
