#!/usr/bin/env bash
# Stops the Redis and RabbitMQ instances started by scripts/services-start.sh (same ports and run dir).
#   scripts/services-stop.sh [redis] [rabbitmq] [--purge]     (--purge also deletes their data)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run_dir="${CDC_RUN_DIR:-$repo_root/.run}"
redis_port="${CDC_REDIS_PORT:-56379}"
rabbit_port="${CDC_RABBITMQ_PORT:-56720}"
rabbit_node="cdc${rabbit_port}@localhost"
want_redis=1
want_rabbit=1
purge=0
servers=()
for a in "$@"; do
  case "$a" in
    redis|rabbitmq) servers+=("$a") ;;
    --purge) purge=1 ;;
    *) echo "services-stop.sh: unknown argument '$a' (use redis, rabbitmq, --purge)" >&2; exit 2 ;;
  esac
done
if [[ ${#servers[@]} -gt 0 ]]; then
  want_redis=0; want_rabbit=0
  for s in "${servers[@]}"; do [[ $s == redis ]] && want_redis=1; [[ $s == rabbitmq ]] && want_rabbit=1; done
fi

if [[ $want_redis == 1 ]]; then
  if command -v redis-cli >/dev/null && redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    echo "Redis on port $redis_port stopped"
  else
    echo "Redis on port $redis_port is not running"
  fi
  [[ $purge == 1 ]] && rm -rf "$run_dir/redis"
fi

if [[ $want_rabbit == 1 ]]; then
  dir="$run_dir/rabbitmq"
  ctl=/usr/lib/rabbitmq/bin/rabbitmqctl
  [[ -x $ctl ]] || ctl="$(command -v rabbitmqctl || echo /nonexistent)"
  if [[ -d "$dir" && -x "$ctl" ]] && HOME="$dir" "$ctl" -n "$rabbit_node" -q shutdown >/dev/null 2>&1; then
    echo "RabbitMQ node $rabbit_node stopped"
  else
    echo "RabbitMQ node $rabbit_node is not running"
  fi
  [[ $purge == 1 ]] && rm -rf "$dir"
fi
exit 0
