#!/usr/bin/env bash
# Start the gateway N times; report median exec→healthy, RSS after 10 s and binary size.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/startup -bin "${1:-bin/gatehouse}" -n "${N:-20}"
