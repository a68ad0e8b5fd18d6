#!/bin/sh
# SPDX-License-Identifier: MIT
# What `make run` runs: `flux sim` serves the devices of deploy/site.yaml on 127.0.0.1 and
# fluxd controls them with the live status line, for DURATION seconds or until Ctrl-C.
# usage: deploy/demo.sh BUILD_DIR DURATION_S
set -eu
build=$1
duration=$2
config=deploy/site.yaml

# The simulator runs a little longer than fluxd so that fluxd's 0 kW writes at stop land.
# In the background it ignores Ctrl-C (POSIX shells do that for asynchronous commands).
# --heartbeat-timeout: the simulated BESS drops to 0 kW by itself 2 s after fluxd's last
# heartbeat (deploy/site.yaml's heartbeat_register), as a real BESS watchdog would.
"$build/bin/flux" sim --heartbeat-timeout 2000 --config "$config" --time-scale 60 \
	--duration $((duration + 10)) \
	> /tmp/flux-demo-sim.$$.log 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true; rm -f /tmp/flux-demo-sim.$$.log' EXIT
# Wait (bounded) until the simulator says it serves.
i=0
until grep -q "flux sim: serving" /tmp/flux-demo-sim.$$.log 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $sim 2>/dev/null; then
		echo "make run: flux sim did not start:" >&2
		cat /tmp/flux-demo-sim.$$.log >&2
		exit 1
	fi
	sleep 0.05
done
sed 's/^/  /' /tmp/flux-demo-sim.$$.log
"$build/bin/fluxd" -c "$config" --status-interval 1 --duration "$duration"
