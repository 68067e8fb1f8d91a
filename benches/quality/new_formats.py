#!/usr/bin/env python3
"""The new formats of DESIGN.md §13, measured in one run; prints a markdown report.

usage: new_formats.py RENDER_EXAMPLE_BINARY     (cargo build --release --example render)
       run by new_formats.sh, which builds it and writes results/new-formats-DATE.md

1. Decode + resize of the corpus HEIC and AVIF originals to w200 (a JPEG at q80), ours (the
   pipeline through examples/render.rs, which times the render alone) against vipsthumbnail
   (libvips, reading them through libheif; per image, without its start-up: see
   vips_per_image_ms), one thread each (VIPS_CONCURRENCY=1), best of 5 (3 for vips), side by side.
2. Peak RSS of rendering w200.jpg of the largest HEIC the default limits allow (50 million
   pixels: 8160x6120, made from the corpus HEIC by Pillow and pillow-heif's x265), ours and
   vipsthumbnail's, from /usr/bin/time's maximum resident set size of the whole process.
3. JPEG XL against AVIF, WebP and JPEG: for each photo at w1000, the JPEG at q80 sets the target
   SSIM (against a Lanczos3 downscale of the original by Pillow); every other format is rendered
   at the quality whose SSIM is closest to it (bisection over q), and its bytes and render time
   (decode + resize + encode; decode and resize are the same for every format) are reported,
   both at the request path's effort ("fast") and at the upload-time one ("small").
SSIM: ssim.py beside this script. Outputs decoded by djxl (JPEG XL), avifdec (AVIF), Pillow.
Needs: Pillow, pillow-heif, numpy, vipsthumbnail, djxl, avifdec, /usr/bin/time.
"""
import io
import os
import re
import subprocess
import sys
import tempfile

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ssim import ssim  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "../../../shared/corpus")
ENV = dict(os.environ, VIPS_CONCURRENCY="1")
RENDER = sys.argv[1]
TMP = tempfile.mkdtemp()
PHOTOS = ["jpeg/photo_2.5mp_storm_baseline_exif.jpg", "jpeg/photo_1.9mp_flower_progressive.jpg",
          "jpeg/photo_4.1mp_autumn_progressive.jpg"]


def render(src, variant, effort="fast"):
    """(bytes, ms) of one render of ours."""
    out = os.path.join(TMP, "ours." + variant.rsplit(".", 1)[1])
    run = subprocess.run([RENDER, src, variant, out, effort], capture_output=True, text=True, check=True)
    ms = float(re.search(r"([\d.]+) ms", run.stdout).group(1))
    return open(out, "rb").read(), ms


def wall_ms(cmd):
    import time
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=ENV, capture_output=True)
    return (time.perf_counter() - start) * 1000


def vips_per_image_ms(src, width, n=6):
    """vipsthumbnail's time per image without its start-up: one process thumbnailing the file
    n times, less one process doing it once, over n - 1 (best of 3 each)."""
    out = os.path.join(TMP, "vips_%s.jpg[Q=80,strip]")
    many = min(wall_ms(["vipsthumbnail"] + [src] * n + ["--size", f"{width}x", "-o", out]) for _ in range(3))
    once = min(wall_ms(["vipsthumbnail", src, "--size", f"{width}x", "-o", out]) for _ in range(3))
    return (many - once) / (n - 1)


def decode_times():
    rows = ["| original | pixels | ours ms | vipsthumbnail ms | ours / vips |", "| --- | ---: | ---: | ---: | ---: |"]
    folder = os.path.join(CORPUS, "avif_heic")
    for name in sorted(os.listdir(folder)):
        src = os.path.join(folder, name)
        w, h = open_ref(src).size
        ours = min(render(src, "w200-q80.jpg")[1] for _ in range(5))
        try:
            vips = vips_per_image_ms(src, 200)
        except subprocess.CalledProcessError:  # libheif 1.15 reads no AVIF sequence
            rows.append(f"| {name} | {w}x{h} | {ours:.1f} | cannot read it | |")
            continue
        rows.append(f"| {name} | {w}x{h} | {ours:.1f} | {vips:.1f} | {ours / vips:.2f} |")
    return "\n".join(rows) + "\n\nvipsthumbnail: one process thumbnailing the file 6 times less one doing it once, over 5."


def open_ref(src):
    import pillow_heif
    pillow_heif.register_heif_opener()
    return Image.open(src)


def peak_rss():
    big = os.path.join(TMP, "largest.heic")
    import pillow_heif
    pillow_heif.register_heif_opener()
    photo = open_ref(os.path.join(CORPUS, "avif_heic/heic_example1_4032x3024.heic")).convert("RGB")
    photo.resize((8160, 6120), Image.BILINEAR).save(big, quality=60)
    rows = ["| render of w200.jpg from a 8160x6120 HEIC (49.9 MP) | peak RSS MiB | time ms |", "| --- | ---: | ---: |"]
    for who, cmd in [("ours (examples/render)", [RENDER, big, "w200-q80.jpg", os.path.join(TMP, "big.jpg")]),
                     ("vipsthumbnail", ["vipsthumbnail", big, "--size", "200x", "-o", os.path.join(TMP, "bigv.jpg[Q=80]")])]:
        run = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=ENV, check=True)
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1)) / 1024
        wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", run.stderr)
        ms = (int(wall.group(2)) * 60 + float(wall.group(3))) * 1000
        rows.append(f"| {who} | {rss:.0f} | {ms:.0f} |")
    return "\n".join(rows) + f"\n\nThe file: {os.path.getsize(big) / 1e6:.1f} MB, one HEVC image (pillow-heif/x265 writes no grid)."


def decode_output(data, ext):
    path = os.path.join(TMP, "out." + ext)
    open(path, "wb").write(data)
    if ext in ("jxl", "avif"):
        tool = "djxl" if ext == "jxl" else "avifdec"
        subprocess.run([tool, path, path + ".png"], check=True, capture_output=True)
        return Image.open(path + ".png").convert("RGB")
    return Image.open(io.BytesIO(data)).convert("RGB")


def at_ssim(src, ext, width, target, effort):
    """(q, ssim, bytes, ms) of the quality whose SSIM is closest to `target`."""
    ref = REFS[(src, width)]
    seen = {}

    def probe(q):
        if q not in seen:
            data, ms = render(src, f"w{width}-q{q}.{ext}", effort)
            seen[q] = (ssim(ref, decode_output(data, ext)), len(data), ms)
        return seen[q]

    lo, hi = 1, 100
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if probe(mid)[0] < target:
            lo = mid
        else:
            hi = mid
    q = min((lo, hi), key=lambda q: abs(probe(q)[0] - target))
    s, size, _ = probe(q)
    ms = min(render(src, f"w{width}-q{q}.{ext}", effort)[1] for _ in range(3))
    return q, s, size, ms


REFS = {}


def equal_ssim(width=1000):
    rows = ["| photo | format | effort | q | SSIM | bytes | vs JPEG | render ms |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    totals = {}
    for rel in PHOTOS:
        src = os.path.join(CORPUS, rel)
        original = Image.open(src).convert("RGB")
        height = round(original.height * width / original.width)
        REFS[(src, width)] = original.resize((width, height), Image.LANCZOS)
        jpeg, jpeg_ms = render(src, f"w{width}-q80.jpg")
        target = ssim(REFS[(src, width)], decode_output(jpeg, "jpg"))
        jpeg_ms = min(render(src, f"w{width}-q80.jpg")[1] for _ in range(3))
        name = os.path.basename(rel)
        rows.append(f"| {name} | jpg | fast | 80 | {target:.4f} | {len(jpeg)} | 1.00 | {jpeg_ms:.0f} |")
        for ext in ("jxl", "avif", "webp"):
            for effort in ("fast", "small"):
                q, s, size, ms = at_ssim(src, ext, width, target, effort)
                totals.setdefault((ext, effort), []).append(size / len(jpeg))
                rows.append(f"| {name} | {ext} | {effort} | {q} | {s:.4f} | {size} | {size / len(jpeg):.2f} | {ms:.0f} |")
    summary = ["| format | effort | bytes vs JPEG q80 at its SSIM (mean) |", "| --- | --- | ---: |"]
    for (ext, effort), ratios in totals.items():
        summary.append(f"| {ext} | {effort} | {sum(ratios) / len(ratios):.2f} |")
    return "\n".join(summary) + "\n\n" + "\n".join(rows)


print("## Decode + resize to w200, HEIC and AVIF originals (one thread)\n")
print(decode_times())
print("\n## Peak memory of the largest HEIC the limits allow\n")
print(peak_rss())
print("\n## JPEG XL against AVIF, WebP and JPEG at equal SSIM (w1000)\n")
print(equal_ssim())
