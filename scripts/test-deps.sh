#!/usr/bin/env bash
# Installs what `make test` needs beyond the venv and node_modules, or fails saying what is missing.
# Every test runs: none is skipped for a missing tool (only `make soak`'s long runs are left out).
set -euo pipefail

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"

# tool to look for -> Debian package that brings it
need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
dpkg -s libclang-rt-14-dev >/dev/null 2>&1 || need+=(libclang-rt-14-dev)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
pg_running() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
rabbit_running() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if ! pg_running && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
if ! rabbit_running && ! command -v rabbitmq-server >/dev/null 2>&1; then
  need+=(rabbitmq-server)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "make test: installing ${need[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "make test: could not install ${need[*]}; install them with apt-get and run make test again" >&2
    exit 1
  fi
  rm -f "$log"
fi

# The broker test talks to RabbitMQ on 5672: start the installed one if nothing answers there.
if ! rabbit_running; then
  echo "make test: starting rabbitmq-server"
  $sudo rabbitmq-server -detached
  for _ in $(seq 1 60); do rabbit_running && break; sleep 1; done
  rabbit_running || { echo "make test: rabbitmq-server did not start on 127.0.0.1:5672" >&2; exit 1; }
fi
