#!/usr/bin/env bash
# The attacks of issue 9 against two builds in one run, with the production settings'
# rate limit for the new one: prints the before/after table of docs/security.md (Facing the open
# internet). usage: benches/attacks/run.sh OLD_BIN NEW_BIN  (about 3 minutes)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
old=$(python3 "$HERE/attacks.py" "$(realpath "$1")")
new=$(python3 "$HERE/attacks.py" "$(realpath "$2")" --config "$HERE/../../config/production.json" --listen 127.0.0.1 --storage file://./data)
python3 - "$old" "$new" <<'PY'
import json, sys
old, new = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rows = [
    ("JPEG with 20,000 scans, one upload: status, server CPU", "scan_bomb", lambda r: f"{r['status']}, {r['cpu_s']} s"),
    ("60 concurrent 20 MB uploads: peak RSS rise, refused", "uploads_60x20mb", lambda r: f"+{r['peak_rss_rise_mib']} MiB, {r['refused_503']} refused (503)"),
    ("300 connections sending `GET /p/` and nothing more: open 31 s later", "slowloris_300", lambda r: f"{r['open_after_31s']} open (another client: {r['other_client_status']})"),
    ("1x1 PNG, ICC and zTXt inflating to 100 MB each: status, peak RSS rise", "icc_bomb", lambda r: f"{r['status']}, +{r['peak_rss_rise_mib']} MiB"),
    ("5000x5000 GIF of one 1x1 frame: status, peak RSS rise", "gif_canvas", lambda r: f"{r['status']}, +{r['peak_rss_rise_mib']} MiB"),
    ("`full.webp` of a 17000 px wide original", "full_webp_17000", lambda r: f"{r['status']}"),
    ("one client asks for 600 new variants", "mint_600_variants", lambda r: f"{r['rendered']} rendered, {r['refused_429']} refused (429)"),
]
for label, key, fmt in rows:
    print(f"| {label} | {fmt(old[key])} | {fmt(new[key])} |")
PY
