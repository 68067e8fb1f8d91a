#!/usr/bin/env python3
"""AVIF, WebP and JPEG at default quality against libvips at equal SSIM: bytes and render time.

usage: formats.py RELEASE_IMAGE_SERVER_BINARY [IMAGE ...]
       (default images: ../shared/bench/images/{medium,large}.jpg and two corpus photos)

For each image, width and format, the reference is a Lanczos3 downscale of the fully decoded
original (Pillow). Ours is the variant `w{W}.{ext}` at the default quality, asked of a running
server (a miss, rendered from the upload's working copy as every miss is). libvips' is
`vipsthumbnail --size {W}x` at the Q whose SSIM against the reference is closest to ours
(bisection over Q 1..100), compared by bytes. Times are the best of three: ours a miss over
HTTP on loopback (three namespaces, one upload each), libvips' the whole vipsthumbnail run less
the same run on an 8x8 PNG (its start-up). Both sides decode the original (scaled), resize and
encode; both run one thread (VIPS_CONCURRENCY=1; the server with --workers 1).
SSIM: Gaussian window 11 / sigma 1.5 on luma (Wang et al. 2004), numpy; AVIF decoded by avifdec.
Needs: Pillow, numpy, vipsthumbnail (libvips-tools), avifdec (libavif-bin).
"""
import io, json, os, re, subprocess, sys, tempfile, time, urllib.request
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ssim_bytes import ssim  # noqa: E402

FORMATS = ("avif", "webp", "jpg")
WIDTHS = (400, 1000)
VIPS_SAVE = {"avif": "[Q={q},strip,compression=av1]", "webp": "[Q={q},strip]", "jpg": "[Q={q},strip]"}
ENV = dict(os.environ, VIPS_CONCURRENCY="1")


def open_any(data, tmp):
    if data[4:12] == b"ftypavif":
        path = os.path.join(tmp, "x.avif")
        open(path, "wb").write(data)
        subprocess.run(["avifdec", path, path + ".png"], check=True, capture_output=True)
        return Image.open(path + ".png").convert("RGB")
    return Image.open(io.BytesIO(data)).convert("RGB")


class Server:
    def __init__(self, binary, tmp):
        self.proc = subprocess.Popen(
            [binary, "serve", "--port", "0", "--status-port", "0", "--workers", "1",
             "--storage", f"file://{tmp}/store", "--rate-limit-per-minute", "0"],
            stderr=subprocess.PIPE, text=True, env=dict(ENV, RUST_LOG="info"))
        for line in self.proc.stderr:
            m = re.search(r"addr=(\S+)", line)
            if "listening" in line and m:
                self.base = "http://" + m.group(1)
                break
        self.uploads = {}

    def upload(self, image):
        if image not in self.uploads:
            data = open(image, "rb").read()
            paths = []
            for ns in ("q1", "q2", "q3"):
                req = urllib.request.Request(f"{self.base}/{ns}", data=data, method="POST")
                h = json.load(urllib.request.urlopen(req))["hash"]
                paths.append(f"/{ns}/{h[:3]}/{h[3:6]}/{h[6:9]}/{h[9:]}")
            self.uploads[image] = paths
        return self.uploads[image]

    def variant(self, image, name):
        """The bytes and the best time of three misses."""
        best, data = None, None
        for path in self.upload(image):
            t = time.perf_counter()
            data = urllib.request.urlopen(f"{self.base}{path}/{name}").read()
            dt = time.perf_counter() - t
            best = dt if best is None else min(best, dt)
        return data, best

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def vips(image, width, ext, q, tmp):
    out = os.path.join(tmp, f"v.{'jpg' if ext == 'jpg' else ext}")
    cmd = ["vipsthumbnail", image, "--size", f"{width}x", "-o", out + VIPS_SAVE[ext].format(q=q)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=ENV, capture_output=True)
    return open(out, "rb").read(), time.perf_counter() - t, cmd


def best_of(cmd, n=3):
    best = None
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env=ENV, capture_output=True)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best


def main():
    binary = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    images = sys.argv[2:] or [
        os.path.join(here, "../../../shared/bench/images/medium.jpg"),
        os.path.join(here, "../../../shared/bench/images/large.jpg"),
        os.path.join(here, "../../../shared/corpus/jpeg/photo_2.5mp_storm_baseline_exif.jpg"),
        os.path.join(here, "../../../shared/corpus/jpeg/photo_4.1mp_autumn_progressive.jpg"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        tiny = os.path.join(tmp, "tiny.png")
        Image.new("RGB", (8, 8), (90, 120, 150)).save(tiny)
        server = Server(binary, tmp)
        totals = {f: [0, 0, 0.0, 0.0] for f in FORMATS}  # our bytes, vips bytes, our s, vips s
        print("| image | width | format | ours bytes (SSIM) | libvips Q | libvips bytes (SSIM) | bytes ours/libvips | ms ours | ms libvips |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        try:
            for image in images:
                full = Image.open(image)
                full.load()
                full = full.convert("RGB")
                for width in WIDTHS:
                    height = int(full.height * width / full.width + 0.5)
                    ref = full.resize((width, height), Image.LANCZOS)
                    for ext in FORMATS:
                        mine, t_mine = server.variant(image, f"w{width}.{ext}")
                        s_mine = ssim(open_any(mine, tmp), ref)
                        seen = {}

                        def measure(q):
                            if q not in seen:
                                data, _, cmd = vips(image, width, ext, q, tmp)
                                img = open_any(data, tmp)
                                if img.size != ref.size:
                                    img = img.resize(ref.size, Image.LANCZOS)
                                seen[q] = (ssim(img, ref), len(data), cmd)
                            return seen[q]

                        lo, hi = 1, 100
                        while hi - lo > 1:
                            mid = (lo + hi) // 2
                            if measure(mid)[0] < s_mine:
                                lo = mid
                            else:
                                hi = mid
                        q = min((lo, hi), key=lambda q: abs(measure(q)[0] - s_mine))
                        s_v, n_v, cmd = measure(q)
                        start_up = best_of(["vipsthumbnail", tiny, "--size", "4x", "-o",
                                            os.path.join(tmp, "t." + ("jpg" if ext == "jpg" else ext))])
                        t_v = max(best_of(cmd) - start_up, 0.0)
                        flag = "" if abs(s_v - s_mine) <= 0.005 else " (SSIM gap > 0.005)"
                        print(f"| {os.path.basename(image)} | {width} | {ext} | {len(mine)} ({s_mine:.4f}) | {q} | "
                              f"{n_v} ({s_v:.4f}) | {len(mine) / n_v:.2f}{flag} | {t_mine * 1000:.0f} | {t_v * 1000:.0f} |",
                              flush=True)
                        t = totals[ext]
                        t[0] += len(mine)
                        t[1] += n_v
                        t[2] += t_mine
                        t[3] += t_v
        finally:
            server.stop()
        print()
        print("| format | bytes ours/libvips | time ours/libvips |")
        print("| --- | --- | --- |")
        for ext, (a, b, ta, tb) in totals.items():
            print(f"| {ext} | {a / b:.2f} | {ta / tb:.2f} |")


if __name__ == "__main__":
    main()
