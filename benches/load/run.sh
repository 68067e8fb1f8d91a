#!/usr/bin/env bash
# Side-by-side load: image-server against thumbor, ipx (sharp/libvips) and nginx, in one run, with
# the peer bench of ../shared/bench; then the in-process figures (criterion vs Pillow) and the
# bytes-at-equal-SSIM comparison with libvips. Prints the target table of issue 3 with ratios.
#
# usage: benches/load/run.sh            (about 20 minutes; needs the network once for setup.sh)
# env:   BENCH_WORK=/tmp/image-server-bench   scratch copy of ../shared/bench (its scripts write beside themselves)
#        DURATION=15  CONNS="4 16"  PEERS="thumbor thumbor2 ipx nginx"  (passed to the peer bench)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=$REPO/../shared/bench
WORK=${BENCH_WORK:-/tmp/image-server-bench}
STAMP=$(date +%Y%m%d-%H%M%S)

if [ ! -x "$WORK/setup.sh" ]; then
  mkdir -p "$WORK"
  cp -r "$SHARED"/. "$WORK"/
  chmod -R u+w "$WORK"
fi
# The shared rotate.lua declares `local nthreads = 0`, which hides the per-thread global that
# request() reads, so every request of a run asks for the same URL. The peers do not cache, so it
# costs them nothing; a caching server would be measured on hits. This copy fixes that one line,
# and the peers run with it too.
cp "$REPO/benches/load/rotate.lua" "$WORK/tools/rotate.lua"
(cd "$WORK" && ./setup.sh > "$WORK/setup.log" 2>&1) || { cat "$WORK/setup.log"; exit 1; }

(cd "$REPO" && cargo build --release --quiet)
BIN=$REPO/target/release/image-server
export OUT=$WORK/results/run-$STAMP.tsv
mkdir -p "$WORK/results" "$WORK/run/ours"

# start_ours NAME PORT [FLAGS...]: a server on new, empty storage (a new directory every call, so no
# run reads what an earlier one stored); sets PID_<NAME>.
start_ours() {
  local name=$1 port=$2; shift 2
  local dir; dir=$(mktemp -d "$WORK/run/ours/$name-$STAMP-XXXX")
  (cd "$dir" && exec "$BIN" serve --port "$port" --status-port $((port + 1)) "$@") > "$dir/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$((port + 1))/health" && break; sleep 0.1; done
  printf -v "PID_$name" '%s' "$pid"
}
# upload PORT FILE: prints the partitioned hash path of the stored original.
upload() {
  curl -fs -X POST --data-binary @"$2" "http://127.0.0.1:$1/p" |
    python3 -c 'import json,sys; h=json.load(sys.stdin)["hash"]; print(f"/p/{h[:3]}/{h[3:6]}/{h[6:9]}/{h[9:]}")'
}

# The peers first, as the peer bench runs them.
"$WORK/run-baseline.sh"

# Ours, right after. Ours rotates the quality too (30..95), so that no URL repeats and our caches
# never answer; the peers' templates have no {Q} and stay at q80. That gives 201 x 66 = 13,266
# distinct URLs, fewer than ours serves in a warm-up plus two 15 s runs, so every cold run gets a
# fresh process on fresh storage and no warm-up (which would spend URLs the run then repeats); the
# status port's render count is checked against the requests afterwards.
export QMIN=30 QMAX=95
cold_run() { # LABEL FILE [FLAGS...]
  local label=$1 file=$2; shift 2
  for c in ${CONNS:-4 16}; do
    start_ours cold 8890 "$@"
    local path; path=$(upload 8890 "$file")
    WARMUP=0 CONNS=$c "$WORK/load.sh" "$label" http://127.0.0.1:8890 "$path/w{W}-q{Q}.jpg" "$PID_cold"
    curl -fs http://127.0.0.1:8891/status |
      python3 -c "import json,sys; s=json.load(sys.stdin); n=s[\"requests\"][\"2xx\"] - 1; r=s[\"renders\"]; print(f'$label c=$c: {r} renders for {n} variant answers' + ('' if r >= n else ' -- NOT A COLD RUN'))" |
      tee -a "$WORK/results/renders-$STAMP.txt"
    kill "$PID_cold"; wait "$PID_cold" 2>/dev/null || true
  done
}
cold_run project-medium-cold "$WORK/images/medium.jpg"
cold_run project-large-cold "$WORK/images/large.jpg"
# Large with upload-time work disabled: every miss decodes the 14.7 MP original.
cold_run project-large-cold-no-working-copy "$WORK/images/large.jpg" --working-copy-max-side 0

# Warm hits: one URL, rendered once, then served from memory.
start_ours warm 8890
MEDIUM=$(upload 8890 "$WORK/images/medium.jpg")
curl -fs -o "$WORK/outputs/project-w200-q80.jpg" "http://127.0.0.1:8890$MEDIUM/w200-q80.jpg"
WMIN=200 WMAX=200 "$WORK/load.sh" project-medium-warmhit http://127.0.0.1:8890 "$MEDIUM/w200-q80.jpg" "$PID_warm"
kill "$PID_warm"; wait "$PID_warm" 2>/dev/null || true

# nginx serving our w200 bytes as a static file, for the warm-hit comparison.
NGINX=$(cd "$WORK" && ./start-nginx.sh)
WMIN=200 WMAX=200 "$WORK/load.sh" nginx-static-project-w200 http://127.0.0.1:8883 /out/project-w200-q80.jpg "$NGINX"
(cd "$WORK" && ./tools/stop.sh "$NGINX")

# In process, one image at a time: Pillow with draft() against our pipeline (criterion).
"$WORK/venv-thumbor/bin/python" "$WORK/tools/pillow-direct.py" "$WORK/images" > "$WORK/results/pillow-$STAMP.txt"
(cd "$REPO" && cargo bench --quiet --bench pipeline -- '^render/(medium|large) -> w200\.jpg (from the (working copy|original) )?\(ours\)$') \
  > "$WORK/results/criterion-$STAMP.txt" 2>&1
python3 "$REPO/benches/quality/ssim_bytes.py" "$BIN" "$WORK/images/medium.jpg" "$WORK/images/large.jpg" > "$WORK/results/ssim-$STAMP.md"

python3 "$REPO/benches/load/summarize.py" "$OUT" "$WORK/results/pillow-$STAMP.txt" "$WORK/results/criterion-$STAMP.txt" "$WORK/results/ssim-$STAMP.md"
