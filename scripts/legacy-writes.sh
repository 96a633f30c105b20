#!/usr/bin/env bash
# Drives a believable, deterministic stream of writes against the sample legacy schema
# (samples/legacy-orders): what the 1990s order-entry application would do all day.
#
#   scripts/legacy-writes.sh [--host H] [--port P] [--db NAME] [--user U] [--dsn CONNINFO]
#                            [--count N] [--duration SECONDS] [--rate PER_SECOND] [--seed N] [--quiet]
#
# Defaults: 127.0.0.1, port $CDC_PG_PORT or 55432, database legacy, user postgres (password from
# $PGPASSWORD, default postgres), 100 writes at 5 per second, seed 42. --rate 0 writes as fast as it can.
# With --duration the run stops after that many seconds (or after --count writes, if given, whichever first).
#
# One short line per legacy write (a transaction), e.g.
#   #12 order 1000007 placed for C0000003: 2 lines, 84.40
# The same seed on the same starting data gives the same sequence of writes.
#
# What it does, weighted: customers register; orders are placed with order lines; placed orders are shipped
# (ord_sts_cd P->S, shp_dt set to a CHAR(8) date) or cancelled (P->C); customers move (address change);
# audit-log rows are written (tb_aud_log has no primary key); now and then an order carries a big memo
# (> 2 kB, incompressible, so it is TOASTed out of line) and a later update of that order leaves the memo
# unchanged (the change event shows it as unavailable unless REPLICA IDENTITY FULL / reselect).
set -euo pipefail

host=127.0.0.1
port="${CDC_PG_PORT:-55432}"
db=legacy
user=postgres
dsn=""
count=""
duration=""
rate=5
seed=42
quiet=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --host) host="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --db|--dbname) db="$2"; shift 2 ;;
    --user) user="$2"; shift 2 ;;
    --dsn) dsn="$2"; shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --quiet) quiet=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "legacy-writes.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

for n in "${count:-0}" "${duration:-0}" "$seed"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "legacy-writes.sh: '$n' is not a whole number" >&2; exit 2; }
done
[[ "$rate" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "legacy-writes.sh: --rate '$rate' is not a number" >&2; exit 2; }
if [[ -z "$count" && -z "$duration" ]]; then count=100; fi

PSQL_BIN="$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)"
[[ -x "$PSQL_BIN" ]] || { echo "legacy-writes.sh: psql not found; install postgresql-client-15" >&2; exit 1; }
export PGPASSWORD="${PGPASSWORD:-postgres}"
if [[ -z "$dsn" ]]; then dsn="host=$host port=$port dbname=$db user=$user"; fi

q() { "$PSQL_BIN" -X -A -t -q -v ON_ERROR_STOP=1 -d "$dsn" -c "$1"; }

if ! q "SELECT 1 FROM tb_ord_mst LIMIT 0" >/dev/null 2>/tmp/legacy-writes.$$; then
  echo "legacy-writes.sh: cannot use the legacy schema at '$dsn': $(cat /tmp/legacy-writes.$$)" >&2
  echo "  load it first: psql -d $db -f samples/legacy-orders/schema.sql -f samples/legacy-orders/seed.sql (or scripts/demo-db.sh)" >&2
  rm -f /tmp/legacy-writes.$$; exit 1
fi
rm -f /tmp/legacy-writes.$$

# --- starting state (the sequence is a function of the seed and this state) ---------------------------
next_cust=$(( $(q "SELECT coalesce(max(substr(cust_no, 2)::int), 0) FROM tb_cust_mst WHERE cust_no ~ '^C[0-9]{7}$'") + 1 ))
next_ord=$(( $(q "SELECT coalesce(max(ord_no), 1000000)::bigint FROM tb_ord_mst") + 1 ))
mapfile -t customers < <(q "SELECT cust_no FROM tb_cust_mst WHERE del_flg = 'N' ORDER BY cust_no")
mapfile -t placed < <(q "SELECT ord_no FROM tb_ord_mst WHERE ord_sts_cd = 'P' ORDER BY ord_no")
toasted=()      # orders with a big memo, waiting for an update that leaves the memo alone

first_names=(Hanna Otto Mira Jonas Lea Elias Sofia Noah Emma Paul Ida Felix Clara Anton Lina Oskar Frieda Karl)
last_names=(Berger Lindqvist Novak Keller Haas Brandt Moreau Svensson Kowalski Huber Aalto Janssen Rossi Vogel)
streets=("Mill Lane" "Harbour Rd" "Station St" "Church Walk" "Market Sq" "Old Quay" "Linden Allee" "Bridge End")
items=("ITM-0001:12.50" "ITM-0002:3.90" "ITM-0017:149.00" "ITM-0042:24.95" "ITM-0100:7.20" "ITM-0203:59.00" "ITM-0311:0.85")
users=(OPS01 OPS02 SALES03 WH04 ACCT05)

RANDOM=$seed
r=0
rnd() { r=$(( RANDOM % $1 )); }          # never call inside $( ): a subshell would not advance the sequence
sql_str() { printf "'%s'" "${1//\'/\'\'}"; }

# a simulated business calendar: one day passes every ~8 writes, starting 2024-04-01
day=0
today=20240401
advance_day() {
  rnd 8
  if (( r == 0 )); then
    day=$(( day + 1 ))
    today=$(date -u -d "2024-04-01 + $day days" +%Y%m%d)
  fi
}

# --- the psql session that carries the writes (one process, statements streamed to it) -------------------
coproc PSQL { "$PSQL_BIN" -X -q -v ON_ERROR_STOP=0 -d "$dsn" >/dev/null; }
send() { printf '%s\n' "$1" >&"${PSQL[1]}"; }
finish() {
  if [[ -n "${PSQL_PID:-}" ]]; then
    send '\q' 2>/dev/null || true
    wait "$PSQL_PID" 2>/dev/null || true
  fi
}
trap finish EXIT
trap 'exit 130' INT TERM

n=0
say() { n=$(( n + 1 )); (( quiet )) || printf '#%-4d %s\n' "$n" "$1"; }

register_customer() {
  local no; no=$(printf 'C%07d' "$next_cust"); next_cust=$(( next_cust + 1 ))
  rnd ${#first_names[@]}; local first=${first_names[$r]}
  rnd ${#last_names[@]}; local last=${last_names[$r]}
  rnd ${#streets[@]}; local street=${streets[$r]}
  rnd 98; local house=$(( r + 1 ))
  rnd 9000; local zip; zip=$(printf '%-7s' $(( r + 1000 )))
  send "INSERT INTO tb_cust_mst (cust_no, cust_nm, cust_addr1, cust_zip, reg_dt) VALUES ('$no', $(sql_str "$first $last"), $(sql_str "$house $street"), '$zip', '$today');"
  customers+=("$no")
  say "customer $no registered: $first $last, $house $street"
}

place_order() {   # $1 = 1 for a big memo
  (( ${#customers[@]} > 0 )) || { register_customer; return; }
  local big=${1:-0}
  local no=$next_ord; next_ord=$(( next_ord + 1 ))
  rnd ${#customers[@]}; local cust=${customers[$r]}
  rnd 3; local lines=$(( r + 1 ))
  local total=0 sql="BEGIN;" dtl=""
  for (( ln = 1; ln <= lines; ln++ )); do
    rnd ${#items[@]}; local item=${items[$r]%%:*} price=${items[$r]#*:}
    rnd 5; local qty=$(( r + 1 ))
    local cents=$(( 10#${price%.*} * 100 + 10#${price#*.} ))
    total=$(( total + qty * cents ))
    dtl+=" INSERT INTO tb_ord_dtl (ord_no, ln_no, itm_cd, qty, unt_prc) VALUES ($no, $ln, '$item', $qty, $price);"
  done
  local amount; amount=$(printf '%d.%02d' $(( total / 100 )) $(( total % 100 )))
  local memo="NULL"
  if (( big )); then
    # incompressible (md5 hex) so pglz cannot shrink it under the 2 kB TOAST threshold: it goes out of line
    memo="'Delivery instructions for order $no, see scanned attachments: ' || (SELECT string_agg(md5('$no-' || g), ' ') FROM generate_series(1, 120) g)"
  else
    rnd 4; (( r == 0 )) && memo="'call before delivery'"
  fi
  sql+=" INSERT INTO tb_ord_mst (ord_no, cust_no, ord_dt, ord_sts_cd, ord_amt, ord_memo) VALUES ($no, '$cust', '$today', 'P', $amount, $memo);$dtl COMMIT;"
  send "$sql"
  placed+=("$no")
  if (( big )); then
    toasted+=("$no:$n")
    say "order $no placed for $cust: $lines line(s), $amount, with a 3.9 kB memo (TOASTed)"
  else
    say "order $no placed for $cust: $lines line(s), $amount"
  fi
}

take_placed() {   # picks a placed order into $picked (a TOASTed one first, once it has waited a few writes)
  picked=""
  picked_toasted=0
  if (( ${#toasted[@]} > 0 )) && (( n - ${toasted[0]#*:} >= 3 )); then
    picked=${toasted[0]%%:*}
    picked_toasted=1
    toasted=("${toasted[@]:1}")
  elif (( ${#placed[@]} > 0 )); then
    rnd ${#placed[@]}; picked=${placed[$r]}
    local t; for t in "${toasted[@]}"; do [[ ${t%%:*} == "$picked" ]] && { picked=""; return; }; done
  fi
  if [[ -n "$picked" ]]; then
    local keep=() o; for o in "${placed[@]}"; do [[ $o == "$picked" ]] || keep+=("$o"); done; placed=("${keep[@]}")
  fi
}

ship_order() {
  take_placed
  [[ -n "$picked" ]] || { place_order 0; return; }
  send "UPDATE tb_ord_mst SET ord_sts_cd = 'S', shp_dt = '$today', upd_ts = now() WHERE ord_no = $picked AND ord_sts_cd = 'P';"
  if (( picked_toasted )); then
    say "order $picked shipped on $today (its big memo unchanged: unchanged TOAST)"
  else
    say "order $picked shipped on $today"
  fi
}

cancel_order() {
  take_placed
  [[ -n "$picked" ]] || { place_order 0; return; }
  send "UPDATE tb_ord_mst SET ord_sts_cd = 'C', upd_ts = now() WHERE ord_no = $picked AND ord_sts_cd = 'P';"
  if (( picked_toasted )); then
    say "order $picked cancelled (its big memo unchanged: unchanged TOAST)"
  else
    say "order $picked cancelled"
  fi
}

move_customer() {
  (( ${#customers[@]} > 0 )) || { register_customer; return; }
  rnd ${#customers[@]}; local cust=${customers[$r]}
  rnd ${#streets[@]}; local street=${streets[$r]}
  rnd 98; local house=$(( r + 1 ))
  rnd 9000; local zip; zip=$(printf '%-7s' $(( r + 1000 )))
  send "UPDATE tb_cust_mst SET cust_addr1 = $(sql_str "$house $street"), cust_zip = '$zip', upd_ts = now() WHERE cust_no = '$cust';"
  say "customer $cust moved to $house $street, ${zip%% *}"
}

audit() {
  rnd ${#users[@]}; local usr=${users[$r]}
  local acts=("LI:login" "LO:logout" "RP:daily report printed" "EX:export to accounting")
  rnd ${#acts[@]}; local act=${acts[$r]%%:*} msg=${acts[$r]#*:}
  send "INSERT INTO tb_aud_log (usr_id, act_cd, log_msg) VALUES ('$usr', '$act', $(sql_str "$msg by $usr"));"
  say "audit: $usr $msg"
}

# sleep between writes: 1/rate seconds (bash has no float arithmetic: let awk format it)
pause=$(awk -v r="$rate" 'BEGIN { if (r <= 0) print 0; else printf "%.3f", 1 / r }')
start=$SECONDS
(( quiet )) || echo "legacy writes on $dsn: ${count:-unlimited} writes${duration:+ for at most ${duration}s} at ${rate}/s, seed $seed"

while :; do
  [[ -n "$count" ]] && (( n >= count )) && break
  [[ -n "$duration" ]] && (( SECONDS - start >= duration )) && break
  advance_day
  rnd 100
  if   (( r < 12 )); then register_customer
  elif (( r < 40 )); then place_order 0
  elif (( r < 46 )); then place_order 1
  elif (( r < 64 )); then ship_order
  elif (( r < 72 )); then cancel_order
  elif (( r < 82 )); then move_customer
  else audit
  fi
  [[ "$pause" == "0" ]] || sleep "$pause"
done

(( quiet )) || echo "done: $n legacy writes"
