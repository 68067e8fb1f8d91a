#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 600), seeded from ../shared/corpus, two at a time;
# minimises anything found into fuzz/regressions/TARGET/, which `cargo test` replays
# (tests/it/fuzz_regressions.rs). The machine's stable toolchain runs cargo-fuzz with
# RUSTC_BOOTSTRAP=1 (for -Zsanitizer=address).
# usage: fuzz/run.sh [SECONDS] [TARGET...]      needs: cargo install cargo-fuzz
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-600}; shift || true
TARGETS=("$@"); [ ${#TARGETS[@]} -gt 0 ] || TARGETS=(url upload_jpeg upload_png upload_gif upload_webp upload_heif upload_avif upload_jxl upload_tiff exif icc)
CORPUS=../../shared/corpus
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 1; }

seed() { # TARGET: fills seeds/TARGET from the shared corpus
  local t=$1 dir=seeds/$1
  rm -rf "$dir"; mkdir -p "$dir"
  case $t in
    # Small seeds keep each run fast; the largest corpus files are left to the tests.
    upload_jpeg) find "$CORPUS"/jpeg "$CORPUS"/malformed -name '*.jpg' -size -300k -exec cp {} "$dir"/ \; ;;
    upload_png) cp "$CORPUS"/png/*.png "$CORPUS"/pngsuite/*.png "$CORPUS"/malformed/*.png "$dir"/ ;;
    upload_gif) cp "$CORPUS"/gif/*.gif "$dir"/ ;;
    upload_webp) find "$CORPUS"/webp -name '*.webp' -size -300k -exec cp {} "$dir"/ \; ;;
    upload_heif)
      cp "$CORPUS"/avif_heic/*.heic "$dir"/
      python3 ../tests/tools/make_formats.py heic "$CORPUS" "$dir" >/dev/null ;;
    upload_avif) find "$CORPUS"/avif_heic -name '*.avif' -size -300k -exec cp {} "$dir"/ \; ;;
    # JPEG XL and TIFF seeds are made from corpus photos by cjxl, Pillow, tiffcp and vips.
    upload_jxl|upload_tiff)
      python3 ../tests/tools/make_formats.py "${t#upload_}" "$CORPUS" "$dir" >/dev/null
      find "$dir" -size +300k -delete ;;
    exif|icc) python3 ./extract_blocks.py "$t" "$CORPUS" "$dir" ;;
    url)
      printf '%s' '/p/6e0/072/682/e66287b662827da75b244a3/x200-q30.jpg' > "$dir/variant"
      printf '%s' '/p/6e0/072/682/e66287b662827da75b244a3/info.json?e=1700000000&s=AAAAAAAAAAAAAAAAAAAAAA' > "$dir/signed"
      printf '%s' '/user/avatar/3589782/300x200.webp?source=https%3A%2F%2Fexample.com%2Fa.jpg' > "$dir/pull"
      printf '%s' '/p' > "$dir/upload"
      printf '%s' '/p/../etc/passwd?s=&e=x&&' > "$dir/odd" ;;
  esac
}

run() { # TARGET
  local t=$1
  seed "$t"
  mkdir -p "corpus/$t" "artifacts/$t"
  # The binaries built once, above: editing the source meanwhile changes no run.
  "$BIN/$t" "corpus/$t" "seeds/$t" -artifact_prefix="artifacts/$t/" -max_total_time="$SECONDS_EACH" \
    -rss_limit_mb=2048 -max_len=262144 -timeout=20 -print_final_stats=1 > "artifacts/$t/log.txt" 2>&1 || true
  grep -E '^stat::(number_of_executed_units|new_units_added)|^#[0-9]+.*DONE' "artifacts/$t/log.txt" | sed "s/^/$t: /" || true
  for found in artifacts/"$t"/crash-* artifacts/"$t"/oom-* artifacts/"$t"/timeout-*; do
    [ -e "$found" ] || continue
    echo "$t: found $(basename "$found"); minimising"
    mkdir -p "regressions/$t"
    local min="artifacts/$t/min-$(basename "$found")"
    "$BIN/$t" -minimize_crash=1 -runs=2000 -exact_artifact_path="$min" "$found" > "artifacts/$t/tmin.log" 2>&1 || true
    if [ -s "$min" ]; then cp "$min" "regressions/$t/$(basename "$found")"; else cp "$found" "regressions/$t/"; fi
  done
}

cargo fuzz build -O
BIN=target/$(rustc -vV | sed -n 's/^host: //p')/release
pids=()
for t in "${TARGETS[@]}"; do
  run "$t" & pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
wait
echo "regressions: $(find regressions -type f | wc -l) files"
