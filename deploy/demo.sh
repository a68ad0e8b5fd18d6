#!/bin/sh
# SPDX-License-Identifier: MIT
# What `make run` runs: `flux sim` serves the devices of deploy/site.yaml on 127.0.0.1, plus
# a feeder meter on a simulated serial line (the seed's "Modbus Configuration" block with the
# path of its line added: a pty the simulator opens, linked at that path), and fluxd controls
# them with the live status line, for DURATION seconds or until Ctrl-C.
# usage: deploy/demo.sh BUILD_DIR DURATION_S
set -eu
build=$1
duration=$2
run=$(mktemp -d "${TMPDIR:-/tmp}/flux-demo.XXXXXX")
config=$run/site.yaml
log=$run/sim.log

# deploy/site.yaml ends inside devices.meters: the serial meter is one more item of it.
cp deploy/site.yaml "$config"
cat >> "$config" <<YAML
    - id: "feeder-meter-1"
      name: "Feeder-Meter (RS-485)"
      type: "acuvim2"
      modbus:
        device: "$run/ttyUSB0"   # real site: /dev/ttyUSB0; here a pty of flux sim
        address: 1
        baud: 9600
        parity: none
        data_bits: 8
        stop_bits: 1
YAML

# The simulator runs a little longer than fluxd so that fluxd's 0 kW writes at stop land.
# In the background it ignores Ctrl-C (POSIX shells do that for asynchronous commands).
# --heartbeat-timeout: the simulated BESS drops to 0 kW by itself 2 s after fluxd's last
# heartbeat (deploy/site.yaml's heartbeat_role), as a real BESS watchdog would.
"$build/bin/flux" sim --heartbeat-timeout 2000 --config "$config" --time-scale 60 \
	--duration $((duration + 10)) > "$log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true; wait $sim 2>/dev/null || true; rm -rf "$run"' EXIT
# Wait (bounded) until the simulator says it serves.
i=0
until grep -q "flux sim: serving" "$log" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $sim 2>/dev/null; then
		echo "make run: flux sim did not start:" >&2
		cat "$log" >&2
		exit 1
	fi
	sleep 0.05
done
sed 's/^/  /' "$log"
"$build/bin/fluxd" -c "$config" --status-interval 1 --duration "$duration"
