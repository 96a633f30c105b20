#!/usr/bin/env bash
# Starts the downstream servers the sinks' integration tests and the demo deliver to — Redis and
# RabbitMQ from Debian's packages — as throwaway instances on non-default ports, with their data
# under <repo>/.run/ (nothing touches the system services).
#
#   scripts/services-start.sh [redis] [rabbitmq]      (both by default)
#
# Ports: Redis 56379 ($CDC_REDIS_PORT), RabbitMQ AMQP 56720 ($CDC_RABBITMQ_PORT; Erlang distribution
# on AMQP+5). Idempotent: a server already running is left alone. Prints one line per server:
#   CDC_TEST_REDIS=127.0.0.1:56379
#   CDC_TEST_RABBITMQ=amqp://guest:guest@127.0.0.1:56720/
# (eval-able; the tests also find the servers on these ports themselves). Works as root.
# Needs: apt-get install -y redis-server rabbitmq-server
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run_dir="${CDC_RUN_DIR:-$repo_root/.run}"
redis_port="${CDC_REDIS_PORT:-56379}"
rabbit_port="${CDC_RABBITMQ_PORT:-56720}"
rabbit_node="cdc${rabbit_port}@localhost"

want_redis=1
want_rabbit=1
if [[ $# -gt 0 ]]; then
  want_redis=0
  want_rabbit=0
  for a in "$@"; do
    case "$a" in
      redis) want_redis=1 ;;
      rabbitmq) want_rabbit=1 ;;
      -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
      *) echo "services-start.sh: unknown server '$a' (use redis, rabbitmq)" >&2; exit 2 ;;
    esac
  done
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_redis() {
  local bin
  bin="$(command -v redis-server || true)"
  if [[ -z "$bin" ]]; then
    echo "services-start.sh: redis-server is not installed: apt-get install -y redis-server" >&2
    return 1
  fi

  local dir="$run_dir/redis"
  mkdir -p "$dir"
  if ! port_open "$redis_port"; then
    # protected-mode off: bound to 127.0.0.1 only, no password needed by the tests.
    "$bin" --port "$redis_port" --bind 127.0.0.1 --daemonize yes --dir "$dir" \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" --appendonly no >/dev/null
    for _ in $(seq 1 50); do port_open "$redis_port" && break; sleep 0.1; done
    port_open "$redis_port" || { echo "services-start.sh: Redis did not open port $redis_port; its log:" >&2; tail -20 "$dir/redis.log" >&2; return 1; }
    echo "Redis started on 127.0.0.1:$redis_port (dir $dir)" >&2
  else
    echo "Redis already listening on 127.0.0.1:$redis_port" >&2
  fi

  echo "CDC_TEST_REDIS=127.0.0.1:$redis_port"
}

start_rabbitmq() {
  local sbin=/usr/lib/rabbitmq/bin
  if [[ ! -x "$sbin/rabbitmq-server" ]]; then
    sbin="$(dirname "$(command -v rabbitmq-server || echo /nonexistent/x)")"
  fi

  if [[ ! -x "$sbin/rabbitmq-server" ]]; then
    echo "services-start.sh: rabbitmq-server is not installed: apt-get install -y rabbitmq-server" >&2
    return 1
  fi

  local dir="$run_dir/rabbitmq"
  mkdir -p "$dir/log" "$dir/mnesia"
  # Everything the node writes lives in $dir: its own HOME (Erlang cookie), mnesia, logs, no plugins.
  export HOME="$dir"
  export RABBITMQ_NODENAME="$rabbit_node"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$rabbit_port"
  export RABBITMQ_DIST_PORT="$((rabbit_port + 5))"
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq"
  [[ -f "$dir/enabled_plugins" ]] || echo '[].' > "$dir/enabled_plugins"
  # loopback_users none: the tests log in as guest over 127.0.0.1 anyway, but allow it explicitly.
  [[ -f "$dir/rabbitmq.conf" ]] || printf 'loopback_users = none\n' > "$dir/rabbitmq.conf"

  if ! port_open "$rabbit_port"; then
    if ! "$sbin/rabbitmqctl" -n "$rabbit_node" -q status >/dev/null 2>&1; then
      # Detached from this shell (setsid), so the node outlives the script and the CI step.
      setsid "$sbin/rabbitmq-server" >"$dir/log/console.log" 2>&1 < /dev/null &
    fi

    # await_startup gives up after its own timeout while the node is still booting: poll the port.
    for _ in $(seq 1 120); do port_open "$rabbit_port" && break; sleep 0.5; done
    "$sbin/rabbitmqctl" -n "$rabbit_node" -q --timeout 60 await_startup >/dev/null 2>&1 || true
    port_open "$rabbit_port" || { echo "services-start.sh: RabbitMQ did not open port $rabbit_port; its logs:" >&2; tail -n 30 "$dir"/log/*.log >&2 || true; return 1; }
    echo "RabbitMQ started on 127.0.0.1:$rabbit_port (node $rabbit_node, dir $dir)" >&2
  else
    echo "RabbitMQ already listening on 127.0.0.1:$rabbit_port" >&2
  fi

  echo "CDC_TEST_RABBITMQ=amqp://guest:guest@127.0.0.1:$rabbit_port/"
}

status=0
if [[ $want_redis == 1 ]]; then start_redis || status=1; fi
if [[ $want_rabbit == 1 ]]; then (start_rabbitmq) || status=1; fi
exit $status
