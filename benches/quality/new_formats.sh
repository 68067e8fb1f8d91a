#!/usr/bin/env bash
# The new formats' figures (DESIGN.md §13) in one run: builds the render example in release and
# writes results/new-formats-DATE.md (see new_formats.py for what is measured and how).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --example render
out=benches/quality/results/new-formats-$(date +%F).md
{
  echo "# New formats: decode time, peak memory, JPEG XL bytes ($(date +%F))"
  echo
  echo "Machine: $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), shared with other builds;"
  echo "$(vipsthumbnail --vips-version 2>/dev/null | head -1), $(cjxl --version 2>&1 | head -1)."
  echo
  python3 benches/quality/new_formats.py target/release/examples/render
} > "$out"
cat "$out"
