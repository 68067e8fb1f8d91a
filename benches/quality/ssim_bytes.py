#!/usr/bin/env python3
"""Output bytes at equal SSIM: image-server against vipsthumbnail (libvips + libjpeg-turbo).

usage: ssim_bytes.py IMAGE_SERVER_BINARY [IMAGE ...]   (default images: ../shared/bench/images/{medium,large}.jpg)

For each image and width, the reference is a Lanczos3 downscale of the fully decoded original
(Pillow). Our output is rendered at the default JPEG quality (`w{W}.jpg` through
`image-server process`); libvips' is rendered at every quality 40..98, and the one whose SSIM
against the reference is closest to ours (within +-0.005) is compared by bytes.
SSIM: ssim.py beside this script (Gaussian window 11 / sigma 1.5 on luma, Wang et al. 2004).
Needs: Pillow, numpy, vipsthumbnail.
"""
import io, json, os, subprocess, sys, tempfile
import numpy as np
from PIL import Image

from ssim import ssim

def ours(binary, image, width, tmp):
    store = os.path.join(tmp, "store")
    out = subprocess.run([binary, "process", "--namespace", "q", "--outputs", f"w{width}.jpg",
                          "--storage", f"file://{store}", image], capture_output=True, text=True, check=True)
    h = json.loads(out.stdout.splitlines()[0])["hash"]
    path = os.path.join(store, "q", h[:3], h[3:6], h[6:9], h[9:], f"w{width}.jpg")
    return open(path, "rb").read()

def vips(image, width, q, tmp):
    out = os.path.join(tmp, f"v{q}.jpg")
    subprocess.run(["vipsthumbnail", image, "--size", f"{width}x", "-o", f"{out}[Q={q},strip]"], check=True)
    return open(out, "rb").read()

def main():
    binary = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    images = sys.argv[2:] or [os.path.join(here, "../../../shared/bench/images", n) for n in ("medium.jpg", "large.jpg")]
    print("| image | width | ours bytes (q default) | ours SSIM | libvips Q at equal SSIM | libvips SSIM | libvips bytes | ours / libvips |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for image in images:
        full = Image.open(image)
        full.load()
        for width in (200, 400):
            height = int(full.height * width / full.width + 0.5)  # round half up, as the server does
            ref = full.resize((width, height), Image.LANCZOS)
            with tempfile.TemporaryDirectory() as tmp:
                mine = ours(binary, image, width, tmp)
                s_mine = ssim(Image.open(io.BytesIO(mine)), ref)
                best = None
                for q in range(40, 99):
                    data = vips(image, width, q, tmp)
                    img = Image.open(io.BytesIO(data))
                    if img.size != ref.size:
                        img = img.resize(ref.size, Image.LANCZOS)
                    s = ssim(img, ref)
                    if best is None or abs(s - s_mine) < abs(best[1] - s_mine):
                        best = (q, s, len(data))
            q, s, n = best
            flag = "" if abs(s - s_mine) <= 0.005 else " (SSIM gap > 0.005)"
            print(f"| {os.path.basename(image)} | {width} | {len(mine)} | {s_mine:.4f} | {q} | {s:.4f} | {n} | {len(mine) / n:.2f}{flag} |")

if __name__ == "__main__":
    main()
