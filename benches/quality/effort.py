#!/usr/bin/env python3
"""Encoder effort: bytes at equal SSIM and encode time, `fast` (request path) against `small`
(upload-time outputs), per output format, through the real pipeline.

usage: effort.py RENDER_BINARY [IMAGE ...]
       RENDER_BINARY: target/release/examples/render (copy it somewhere private first)
       default images: a handful of photos from ../shared/corpus (relative to the repo root)

Every output is one run of `render INPUT VARIANT OUTPUT fast|small`, which decodes, resizes and
encodes; decode and resize are the same for both efforts, so differences are the encoder's.
For each image and size (`w400`, `w1200` where the upright image is at least that wide, `full`
for images narrower than 400), the reference is the `fast` render of `{size}.png`: lossless and
resampled the same way, so SSIM measures only the lossy encoder's loss.
- jpg, webp, avif: `fast` at the default quality (80, 80, 60); `small` swept over quality
  default-12 .. default+12 in steps of 3 (widened in steps of 3 while the fast output's SSIM lies
  outside the swept range), and its bytes (and quality) linearly interpolated at the fast
  output's SSIM on the curve sorted by SSIM. Also `small` at the same quality: what the server
  stores for the same variant name.
  Where SSIM does not move over the sweep (lossless alpha over one flat colour) the row says so
  and is left out of the summary.
- png: lossless, so bytes directly; the decoded pixels of both are asserted identical.
Times: the render's own milliseconds (decode + resize + encode, printed by the binary), median of
three runs each, fast and small interleaved, at the default quality only; "+ms" is small - fast,
the extra encoder time alone.
SSIM: ssim.py beside this script (Gaussian window 11 / sigma 1.5 on luma), as ssim_bytes.py uses;
images with alpha are composited on white first (as the JPEG encoder flattens them).
AVIF decoded by avifdec. Needs: Pillow, numpy, avifdec (libavif-bin).
"""
import datetime, os, platform, re, statistics, subprocess, sys, tempfile
import numpy as np
from PIL import Image

from ssim import ssim

DEFAULT_IMAGES = (
    "jpeg/photo_0.24mp_owl_baseline.jpg",
    "jpeg/photo_2.5mp_storm_baseline_exif.jpg",
    "jpeg/photo_4.1mp_autumn_progressive.jpg",
    "jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg",
    "png/palette_photo_290x442.png",
    "png/rgba_dice_transparent.png",
    "png/rgba_bug_2048x1536.png",
    "gif/static_photo_crash_test_800x533.gif",
)
WIDTHS = (400, 1200)
LOSSY = {"jpg": 80, "webp": 80, "avif": 60}  # the server's default quality per format
SWEEP = range(-12, 13, 3)
RUNS = 3
FLAT = 1e-5  # SSIM spread over the whole sweep below which bytes at equal SSIM mean nothing


def decode(path):
    """Pillow image of an output file (AVIF through avifdec), fully loaded."""
    if path.endswith(".avif"):
        subprocess.run(["avifdec", path, path + ".png"], check=True, capture_output=True)
        path += ".png"
    img = Image.open(path)
    img.load()
    return img

def on_white(img):
    """RGB for SSIM: anything with alpha composited on white."""
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


class Renderer:
    def __init__(self, binary, image, tmp):
        self.binary, self.image, self.tmp, self.n = binary, image, tmp, 0

    def __call__(self, variant, effort):
        """(path, bytes, ms, size) of one render."""
        self.n += 1
        out = os.path.join(self.tmp, f"{self.n}-{effort}-{variant}")
        r = subprocess.run([self.binary, self.image, variant, out, effort], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"render {self.image} {variant} {effort} failed: {r.stderr.strip()}")
        m = re.fullmatch(r"(\d+)x(\d+) (\d+) bytes ([\d.]+) ms", r.stdout.strip())
        return out, int(m.group(3)), float(m.group(4)), (int(m.group(1)), int(m.group(2)))

    def timed(self, variant):
        """Fast and small renders of `variant`, interleaved RUNS times: (fast, small), each the
        first run's (path, bytes, size) and the median ms."""
        runs = {"fast": [], "small": []}
        for _ in range(RUNS):
            for effort in runs:
                runs[effort].append(self(variant, effort))
        out = []
        for effort, rs in runs.items():
            assert len({r[1] for r in rs}) == 1, f"{variant} {effort}: output size varies between runs"
            path, n, _, size = rs[0]
            out.append((path, n, statistics.median(r[2] for r in rs), size))
        return out


def upright_width(path):
    img = Image.open(path)
    return img.height if img.getexif().get(0x0112, 1) in (5, 6, 7, 8) else img.width

def sizes(path):
    w = upright_width(path)
    return [f"w{x}" for x in WIDTHS if w >= x] or ["full"]


def small_at_equal_ssim(render, geometry, ext, q0, target, ref, first):
    """Sweep `small` over qualities around q0 until the target SSIM is bracketed; returns
    (bytes, q) interpolated at target, None if it is not bracketed, or "flat" if SSIM does not
    move with quality (e.g. a mostly transparent image whose colour is one flat value), and the
    (ssim, bytes, q) points."""
    points = {q0: first}
    def measure(q):
        if q not in points:
            path, n, _, _ = render(f"{geometry}-q{q}.{ext}", "small")
            points[q] = (ssim(on_white(decode(path)), ref), n)
    for d in SWEEP:
        measure(min(100, max(1, q0 + d)))
    while target > max(s for s, _ in points.values()) and max(points) < 100:
        measure(min(100, max(points) + 3))
    while target < min(s for s, _ in points.values()) and min(points) > 1:
        measure(max(1, min(points) - 3))
    curve = sorted((s, n, q) for q, (s, n) in points.items())
    ss = [c[0] for c in curve]
    if ss[-1] - ss[0] < FLAT:
        return "flat", curve
    if not ss[0] <= target <= ss[-1]:
        return None, curve
    return (float(np.interp(target, ss, [c[1] for c in curve])),
            float(np.interp(target, ss, [c[2] for c in curve]))), curve


def cpu_seconds():
    """(CPU seconds the whole machine was busy, CPU seconds of this script and its children)."""
    ticks = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    busy = sum(ticks[:8]) - ticks[3] - ticks[4]  # user..steal but idle and iowait (guest is in user)
    t = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), t.user + t.system + t.children_user + t.children_system


def geomean(xs):
    return float(np.exp(np.mean(np.log(xs)))) if xs else float("nan")

def summary(values):
    return f"median {statistics.median(values):.3f}, geomean {geomean(values):.3f}" if values else "n/a"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "corpus"))
    images = sys.argv[2:] or [os.path.join(corpus, p) for p in DEFAULT_IMAGES]

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
    started, cpu0 = datetime.datetime.now(), cpu_seconds()
    print(f"# Encoder effort: `fast` against `small`, bytes at equal SSIM and render time")
    print()
    print(f"{started:%Y-%m-%d %H:%M}, {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
          f"load average at start {os.getloadavg()[0]:.2f}; binary {binary} "
          f"(built {datetime.datetime.fromtimestamp(os.path.getmtime(binary)):%Y-%m-%d %H:%M}). "
          f"SSIM against the lossless `fast` PNG at the same size; times median of {RUNS}, whole render "
          f"(decode + resize + encode), single-threaded encoders.")
    sys.stdout.flush()

    rows = {ext: [] for ext in (*LOSSY, "png")}
    for image in images:
        name = os.path.basename(image)
        with tempfile.TemporaryDirectory(prefix="effort-") as tmp:
            render = Renderer(binary, image, tmp)
            for geometry in sizes(image):
                (fp, fn, fms, size), (sp, sn, sms, _) = render.timed(f"{geometry}.png")
                ref_img, small_img = decode(fp), decode(sp)
                a, b = np.asarray(ref_img.convert("RGBA")), np.asarray(small_img.convert("RGBA"))
                assert a.shape == b.shape and np.array_equal(a, b), f"{name} {geometry}: PNG pixels differ between efforts"
                label = f"{name} | {geometry} ({size[0]}x{size[1]})"
                rows["png"].append((label, fn, sn, fms, sms, f"{ref_img.mode}->{small_img.mode}"))
                ref = on_white(ref_img)
                for ext, q0 in LOSSY.items():
                    (fp, fn, fms, fsize), (sp, sn, sms, ssize) = render.timed(f"{geometry}-q{q0}.{ext}")
                    assert fsize == ssize == size, f"{name} {geometry} {ext}: size {fsize}/{ssize}, reference {size}"
                    f_ssim = ssim(on_white(decode(fp)), ref)
                    s_ssim = ssim(on_white(decode(sp)), ref)
                    equal, curve = small_at_equal_ssim(render, geometry, ext, q0, f_ssim, ref, (s_ssim, sn))
                    rows[ext].append((label, fn, f_ssim, equal, curve, sn, s_ssim, fms, sms))
                print(f"<!-- {name} {geometry} done -->", file=sys.stderr, flush=True)

    for ext, q0 in LOSSY.items():
        print()
        print(f"## {ext} (fast at q{q0})")
        print()
        print(f"| image | size | fast bytes | fast SSIM | small bytes at equal SSIM (q) | small / fast | "
              f"small bytes at q{q0} | small SSIM at q{q0} | small / fast at q{q0} | fast ms | small ms | +ms | time small / fast |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        eq_ratios, q_ratios, t_ratios, extra = [], [], [], []
        for label, fn, f_ssim, equal, curve, sn, s_ssim, fms, sms in rows[ext]:
            qs = f"q{min(c[2] for c in curve)}..{max(c[2] for c in curve)}"
            if equal == "flat":
                eq_cell, eq_ratio = f"SSIM flat over {qs}", "—"
            elif equal is None:
                eq_cell, eq_ratio = f"outside {qs} (SSIM {curve[0][0]:.5f}..{curve[-1][0]:.5f})", "—"
            else:
                eq_cell, eq_ratio = f"{equal[0]:.0f} (q{equal[1]:.1f})", f"{equal[0] / fn:.3f}"
                eq_ratios.append(equal[0] / fn)
            q_ratios.append(sn / fn)
            t_ratios.append(sms / fms)
            extra.append(sms - fms)
            print(f"| {label} | {fn} | {f_ssim:.5f} | {eq_cell} | {eq_ratio} | {sn} | {s_ssim:.5f} | {sn / fn:.3f} | "
                  f"{fms:.1f} | {sms:.1f} | {sms - fms:+.1f} | {sms / fms:.2f} |")
        print()
        print(f"**{ext}**: bytes small / fast at equal SSIM: {summary(eq_ratios)} "
              f"(n={len(eq_ratios)} of {len(rows[ext])}); at the same q: {summary(q_ratios)}; "
              f"time small / fast: {summary(t_ratios)}, extra encoder ms median {statistics.median(extra):+.1f}.")

    print()
    print("## png (lossless; decoded pixels asserted identical)")
    print()
    print("| image | size | fast bytes | small bytes | small / fast | mode fast->small | fast ms | small ms | +ms | time small / fast |")
    print("| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    b_ratios, t_ratios, extra = [], [], []
    for label, fn, sn, fms, sms, modes in rows["png"]:
        b_ratios.append(sn / fn)
        t_ratios.append(sms / fms)
        extra.append(sms - fms)
        print(f"| {label} | {fn} | {sn} | {sn / fn:.3f} | {modes} | {fms:.1f} | {sms:.1f} | {sms - fms:+.1f} | {sms / fms:.2f} |")
    print()
    print(f"**png**: bytes small / fast: {summary(b_ratios)}; time small / fast: "
          f"{summary(t_ratios)}, extra encoder ms median {statistics.median(extra):+.1f}.")
    print()
    wall = (datetime.datetime.now() - started).total_seconds()
    cpu1 = cpu_seconds()
    others = (cpu1[0] - cpu0[0]) - (cpu1[1] - cpu0[1])
    print(f"Run took {wall / 60:.1f} min; load average at end {os.getloadavg()[0]:.2f}; other processes "
          f"used {max(0.0, others):.0f} CPU-seconds meanwhile ({max(0.0, others) / wall:.2f} cores on average).")


if __name__ == "__main__":
    main()
