#!/usr/bin/env python3
"""Peak RSS of the largest animations the default limits allow (DESIGN.md §9-10).

usage: animation_rss.py RELEASE_IMAGE_SERVER_BINARY

GIF and WebP originals. The limits: a canvas of at most max_source_pixels (50 M), at most max_animation_frames (300)
frames, and frames x canvas at most 4 x max_source_pixels (200 M). Two extremes of that box,
made with Pillow (each frame a different flat colour with a moving square, so no two frames
are alike):
  - 4 frames on a 7071 x 7071 canvas (the largest canvas kept animated),
  - 300 frames on 816 x 816 (the most frames).
For each, a fresh server (one worker) takes the upload and renders w200.gif and w200.webp, both
animated; the server's VmHWM (peak RSS) is read from /proc after start-up, after the upload and
after the renders. Needs: Pillow.
"""
import io, json, os, re, subprocess, sys, tempfile, urllib.request
from PIL import Image, ImageDraw


def animation(side, frames, fmt="GIF"):
    images = []
    for i in range(frames):
        im = Image.new("P", (side, side), color=i % 200)
        im.putpalette([(j * 37) % 256 for j in range(768)])
        d = ImageDraw.Draw(im)
        x = (i * side // frames) % max(side - 64, 1)
        d.rectangle([x, x, x + 63, x + 63], fill=255)
        images.append(im)
    out = io.BytesIO()
    if fmt == "WEBP":
        images = [im.convert("RGB") for im in images]
        images[0].save(out, "WEBP", save_all=True, append_images=images[1:], duration=40, loop=0, quality=50, method=0)
    else:
        images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=40, loop=0, optimize=False)
    return out.getvalue()


def hwm(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def run(binary, name, data):
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([binary, "serve", "--port", "0", "--status-port", "0", "--workers", "1",
                                 "--storage", f"file://{tmp}/store"], stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ, RUST_LOG="info"))
        base = None
        for line in proc.stderr:
            m = re.search(r"addr=(\S+)", line)
            if "listening" in line and m:
                base = "http://" + m.group(1)
                break
        try:
            idle = hwm(proc.pid)
            req = urllib.request.Request(f"{base}/a", data=data, method="POST")
            info = json.load(urllib.request.urlopen(req, timeout=600))
            after_upload = hwm(proc.pid)
            h = info["hash"]
            path = f"/a/{h[:3]}/{h[3:6]}/{h[6:9]}/{h[9:]}"
            sizes = {}
            for variant in ("w200.gif", "w200.webp"):
                sizes[variant] = len(urllib.request.urlopen(f"{base}{path}/{variant}", timeout=600).read())
            after_renders = hwm(proc.pid)
            canvas_mib = info["width"] * info["height"] * 4 / 2**20
            print(f"| {name} | {len(data) / 2**20:.1f} MiB, {info.get('frames')} frames, {info['width']}x{info['height']} "
                  f"| {canvas_mib:.0f} | {idle:.0f} | {after_upload:.0f} | {after_renders:.0f} | "
                  f"{after_renders - idle:.0f} | {sizes['w200.gif'] // 1024} / {sizes['w200.webp'] // 1024} |", flush=True)
        finally:
            proc.terminate()
            proc.wait()


def main():
    binary = sys.argv[1]
    print("| animation | upload | one canvas RGBA MiB | peak RSS idle MiB | after upload | after w200.gif + w200.webp | rise | output KiB gif / webp |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    run(binary, "GIF, largest canvas: 4 x 7071x7071", animation(7071, 4))
    run(binary, "GIF, most frames: 300 x 816x816", animation(816, 300))
    run(binary, "WebP, largest canvas: 4 x 7071x7071", animation(7071, 4, "WEBP"))
    run(binary, "WebP, most frames: 300 x 816x816", animation(816, 300, "WEBP"))


if __name__ == "__main__":
    main()
