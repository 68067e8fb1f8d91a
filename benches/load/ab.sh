#!/usr/bin/env bash
# Two builds of image-server side by side under the same load, alternating, in one run: our part
# of run.sh (cold misses on medium and large, warm hits) for each binary, ROUNDS times.
# usage: benches/load/ab.sh OLD_BIN NEW_BIN     env: ROUNDS=3 DURATION=15 CONNS=16
# Needs the peer bench's scratch copy (run.sh makes it): BENCH_WORK=/tmp/image-server-bench.
set -euo pipefail
OLD=$1; NEW=$2
WORK=${BENCH_WORK:-/tmp/image-server-bench}
STAMP=$(date +%Y%m%d-%H%M%S)
export OUT=$WORK/results/ab-$STAMP.tsv CONNS=${CONNS:-16} QMIN=30 QMAX=95
mkdir -p "$WORK/run/ab"
upload() {
  curl -fs -X POST --data-binary @"$2" "http://127.0.0.1:$1/p" |
    python3 -c 'import json,sys; h=json.load(sys.stdin)["hash"]; print(f"/p/{h[:3]}/{h[3:6]}/{h[6:9]}/{h[9:]}")'
}
one() { # NAME BIN SCENARIO FILE TEMPLATE
  local name=$1 bin=$2 scenario=$3 file=$4 template=$5
  local dir; dir=$(mktemp -d "$WORK/run/ab/$name-XXXX")
  (cd "$dir" && exec "$bin" serve --port 8890 --status-port 8891) > "$dir/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -fs -o /dev/null http://127.0.0.1:8891/health && break; sleep 0.1; done
  local path; path=$(upload 8890 "$file")
  if [ "$scenario" = warm ]; then
    curl -fs -o /dev/null "http://127.0.0.1:8890$path/w200-q80.jpg"
    WMIN=200 WMAX=200 QMIN=80 QMAX=80 WARMUP=0 "$WORK/load.sh" "$name-$scenario" http://127.0.0.1:8890 "$path/$template" "$pid"
  else
    WARMUP=0 "$WORK/load.sh" "$name-$scenario" http://127.0.0.1:8890 "$path/$template" "$pid"
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
for round in $(seq "${ROUNDS:-3}"); do
  for side in old new; do
    bin=$OLD; [ "$side" = new ] && bin=$NEW
    one "$side" "$bin" medium-cold "$WORK/images/medium.jpg" 'w{W}-q{Q}.jpg'
    one "$side" "$bin" large-cold "$WORK/images/large.jpg" 'w{W}-q{Q}.jpg'
    one "$side" "$bin" warm "$WORK/images/medium.jpg" 'w200-q80.jpg'
  done
done
echo "results: $OUT"
