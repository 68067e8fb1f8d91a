#!/usr/bin/env bash
# AVIF originals decoded by libavif and by libheif side by side (the choice of reader for AVIF
# originals, see src/pipeline/codec/avif.rs): builds avif_decode.c against the system headers,
# prints a markdown table of median milliseconds per file.   usage: avif_decode.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")"
RUNS=${1:-7}
BIN=$(mktemp -d)/avif_decode
cc -O2 -o "$BIN" avif_decode.c $(pkg-config --cflags --libs libavif libheif)
echo "| AVIF original | libavif (dav1d) ms | libheif ms |"
echo "| --- | ---: | ---: |"
for f in ../../../shared/corpus/avif_heic/*.avif; do
  read -r avif heif < <("$BIN" "$f" "$RUNS")
  echo "| $(basename "$f") | $avif | $heif |"
done
