#!/bin/sh
# podman.sh starts and stops a Podman Docker-compatible API service for the
# docker sandbox tests, on a unix socket in DIR.
#
#   eval "$(test/peers/podman.sh start DIR)"   # prints: export DOCKER_HOST=unix://DIR/podman.sock
#   test/peers/podman.sh stop DIR
#
# It installs nothing: podman, runc and busybox-static come from Debian
# (apt-get install -y podman runc busybox-static). The containers.conf this
# machine needs (see shared/TESTING.md: runc, cgroupfs, file events, the
# ulimits root may set) is written to DIR and passed with CONTAINERS_CONF,
# so /etc is left alone. Starting twice is harmless: a service that already
# answers on DIR/podman.sock is kept.
set -eu

usage() {
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}

[ $# -eq 2 ] || usage
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
sock=$dir/podman.sock
pidfile=$dir/podman.pid
conf=$dir/containers.conf
log=$dir/podman.log

ping() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1
	else
		CONTAINERS_CONF=$conf podman --remote --url "unix://$sock" version >/dev/null 2>&1
	fi
}

running() {
	[ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

case $action in
start)
	command -v podman >/dev/null 2>&1 || {
		echo "podman.sh: podman is not installed: apt-get install -y podman runc busybox-static" >&2
		exit 1
	}
	cat >"$conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
	if running && ping; then
		echo "export DOCKER_HOST=unix://$sock"
		exit 0
	fi
	if running; then
		kill "$(cat "$pidfile")" 2>/dev/null || true
	fi
	rm -f "$sock" "$pidfile"
	# setsid: the service outlives this script and the shell that ran it.
	CONTAINERS_CONF=$conf setsid podman system service --time=0 "unix://$sock" \
		</dev/null >>"$log" 2>&1 &
	echo $! >"$pidfile"
	i=0
	until ping; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! running; then
			echo "podman.sh: podman system service did not answer on $sock; its log:" >&2
			tail -n 30 "$log" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
	echo "export DOCKER_HOST=unix://$sock"
	;;
stop)
	if running; then
		pid=$(cat "$pidfile")
		kill "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null; do
			i=$((i + 1))
			[ $i -gt 100 ] && { kill -9 "$pid" 2>/dev/null || true; break; }
			sleep 0.1
		done
	fi
	rm -f "$sock" "$pidfile"
	;;
*)
	usage
	;;
esac
