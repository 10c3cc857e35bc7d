#!/usr/bin/env bash
# Stop the single-node CI SLURM cluster started by .ci/slurm/up.sh.
# Idempotent: does nothing for daemons that are not running.
# --keep-munge: stop only slurmd/slurmctld (used by up.sh on config changes).
set -uo pipefail

stop() {  # stop <name> <pidfile>: SIGTERM, wait up to 20 s, then SIGKILL
    local name=$1 pidfile=$2 pid
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        echo "[slurm-down] stopping $name (pid $pid)" >&2
        kill "$pid" 2>/dev/null
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$pidfile"
}

stop slurmd /run/slurmd.pid
stop slurmctld /run/slurmctld.pid
[ "${1:-}" = "--keep-munge" ] || stop munged /run/munge/munged.pid
exit 0
