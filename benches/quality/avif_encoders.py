#!/usr/bin/env python3
"""AVIF encoder candidates at equal SSIM: bytes and encode time, against our JPEG and WebP.

usage: avif_encoders.py IMAGE_SERVER_BINARY [IMAGE ...]
       (default images: four photos of ../shared/corpus/jpeg)

For each image and width, the reference is a Lanczos3 downscale of the fully decoded original
(Pillow), written as PNG. Our JPEG and WebP are `full.jpg` / `full.webp` of that PNG at the
default qualities (`image-server process`), so every candidate encodes the same pixels. Each AVIF
candidate is searched (bisection over its quantizer) for the output whose SSIM is closest to our
JPEG's, and reported by bytes and by encode time: the best of three runs of the encoder's command
line at that setting, which includes reading the PNG, the same for every candidate.

Candidates: libavif 0.11 (Debian's avifenc) driving aom, SVT-AV1 and rav1e, and `cavif`
(the ravif crate, rav1e 0.8) when it is on PATH (`cargo install cavif`). All single-threaded, 4:2:0.
SSIM: Gaussian window 11 / sigma 1.5 on luma (Wang et al. 2004), numpy; AVIF decoded by avifdec.
Needs: Pillow, numpy, avifenc/avifdec (libavif-bin).
"""
import io, json, os, shutil, subprocess, sys, tempfile, time
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ssim_bytes import ssim  # noqa: E402

WIDTHS = (320, 800, 1600)


def run_best_of(cmd, n=3):
    best = None
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best


def decode_avif(path, tmp):
    png = os.path.join(tmp, "dec.png")
    subprocess.run(["avifdec", path, png], check=True, capture_output=True)
    return Image.open(png).convert("RGB")


class Avifenc:
    def __init__(self, codec, speed):
        self.codec, self.speed = codec, speed
        self.name = f"libavif {codec} speed {speed}"
        self.lo, self.hi = 0, 63  # quantizer: lower is better quality

    def cmd(self, src, out, q):
        return ["avifenc", "-c", self.codec, "-s", str(self.speed), "-j", "1", "-y", "420",
                "--min", str(q), "--max", str(q), "--minalpha", "0", "--maxalpha", "0", src, out]


class Cavif:
    def __init__(self, speed):
        self.speed = speed
        self.name = f"ravif (cavif) speed {speed}"
        self.lo, self.hi = 1, 100  # quality: higher is better

    def cmd(self, src, out, q):
        return ["cavif", "--quiet", "--overwrite", "--speed", str(self.speed), "--quality", str(q),
                "--threads", "1", "-o", out, src]


def search(cand, src, target, tmp):
    """The setting whose SSIM is closest to target, by bisection; (setting, ssim, bytes)."""
    out = os.path.join(tmp, "c.avif")
    seen = {}

    def measure(q):
        if q not in seen:
            subprocess.run(cand.cmd(src, out, q), check=True, capture_output=True)
            seen[q] = (ssim(decode_avif(out, tmp), Image.open(src)), os.path.getsize(out))
        return seen[q]

    lo, hi = cand.lo, cand.hi
    increasing = isinstance(cand, Cavif)  # SSIM rises with cavif's quality, falls with a quantizer
    while hi - lo > 1:
        mid = (lo + hi) // 2
        s, _ = measure(mid)
        if (s < target) == increasing:
            lo = mid
        else:
            hi = mid
    q = min((lo, hi), key=lambda q: abs(measure(q)[0] - target))
    s, n = measure(q)
    return q, s, n


def ours(binary, src, tmp):
    store = os.path.join(tmp, "store")
    shutil.rmtree(store, ignore_errors=True)
    out = subprocess.run([binary, "process", "--namespace", "q", "--outputs", "full.jpg,full.webp",
                          "--storage", f"file://{store}", src], capture_output=True, text=True, check=True)
    h = json.loads(out.stdout.splitlines()[0])["hash"]
    d = os.path.join(store, "q", h[:3], h[3:6], h[6:9], h[9:])
    return {f: open(os.path.join(d, f"full.{f}"), "rb").read() for f in ("jpg", "webp")}


def main():
    binary = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = os.path.join(here, "../../../shared/corpus/jpeg")
    images = sys.argv[2:] or [os.path.join(corpus, n) for n in (
        "photo_0.24mp_owl_baseline.jpg", "photo_1.9mp_flower_progressive.jpg",
        "photo_2.5mp_storm_baseline_exif.jpg", "photo_4.1mp_autumn_progressive.jpg")]
    cands = [Avifenc("aom", 6), Avifenc("aom", 8), Avifenc("svt", 8), Avifenc("rav1e", 8)]
    if shutil.which("cavif"):
        cands.append(Cavif(8))
    print("| image | width | JPEG bytes (SSIM) | WebP bytes (SSIM) | " +
          " | ".join(f"{c.name}: bytes, ms" for c in cands) + " |")
    print("|" + " --- |" * (4 + len(cands)))
    totals = {c.name: [0, 0.0] for c in cands}
    totals["jpeg"], totals["webp"] = [0, 0.0], [0, 0.0]
    for image in images:
        full = Image.open(image)
        full.load()
        for width in WIDTHS:
            if width > full.width:
                continue
            height = int(full.height * width / full.width + 0.5)
            with tempfile.TemporaryDirectory() as tmp:
                src = os.path.join(tmp, "ref.png")
                full.convert("RGB").resize((width, height), Image.LANCZOS).save(src)
                ref = Image.open(src)
                mine = ours(binary, src, tmp)
                s_jpg = ssim(Image.open(io.BytesIO(mine["jpg"])), ref)
                s_webp = ssim(Image.open(io.BytesIO(mine["webp"])), ref)
                row = [os.path.basename(image), str(width), f"{len(mine['jpg'])} ({s_jpg:.4f})",
                       f"{len(mine['webp'])} ({s_webp:.4f})"]
                totals["jpeg"][0] += len(mine["jpg"])
                totals["webp"][0] += len(mine["webp"])
                for c in cands:
                    try:
                        q, s, n = search(c, src, s_jpg, tmp)
                    except subprocess.CalledProcessError as e:
                        # SVT-AV1 1.4 refuses odd sizes and sizes under 64 px.
                        totals[c.name].append("refused")
                        row.append("refused: " + e.stderr.decode(errors="replace").strip().splitlines()[-1][:40])
                        continue
                    secs = run_best_of(c.cmd(src, os.path.join(tmp, "t.avif"), q))
                    totals[c.name][0] += n
                    totals[c.name][1] += secs
                    row.append(f"{n} ({s:.4f}), {secs * 1000:.0f}")
                print("| " + " | ".join(row) + " |", flush=True)
    print()
    print("| encoder | total bytes | vs our JPEG | total encode s |")
    print("| --- | --- | --- | --- |")
    for name, (n, secs, *refused) in totals.items():
        t = f"{secs:.2f}" if secs else "-"
        note = f" (refused {len(refused)} sizes, left out of the total)" if refused else ""
        print(f"| {name} | {n}{note} | {n / totals['jpeg'][0]:.2f} | {t} |")


if __name__ == "__main__":
    main()
