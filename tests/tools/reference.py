#!/usr/bin/env python3
"""A reference rendering by decoders nobody on this project wrote, for tests/it/formats.rs:
pillow-heif for HEIC, libvips (through the system libheif) for AVIF, Debian's djxl for JPEG
XL, Pillow for TIFF (and the rest).
The original is turned upright (EXIF/TIFF orientation; for HEIF, libheif's irot/imir/clap), converted
to sRGB through its ICC profile, composed onto white, resized to WIDTH with Lanczos.

usage: reference.py ORIGINAL WIDTH OUT.png     prints the upright size of the original: "W H"
"""
import io
import os
import subprocess
import sys
import tempfile

from PIL import Image, ImageCms, ImageOps

SRC, WIDTH, OUT = sys.argv[1], int(sys.argv[2]), sys.argv[3]

if SRC.endswith(".jxl"):
    png = os.path.join(tempfile.mkdtemp(), "djxl.png")
    subprocess.run(["djxl", SRC, png], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    image = Image.open(png)
elif SRC.endswith(".avif"):
    # pillow-heif no longer decodes AV1, and Pillow's own AVIF reader ignores clap: libvips
    # reads AVIF through the system libheif, which applies irot/imir/clap (the server uses
    # libavif). EXIF orientation is not applied on top, as HEIF readers do.
    # libheif 1.15 reads no image sequences: those are read by Pillow's AVIF reader (libavif).
    png = os.path.join(tempfile.mkdtemp(), "vips.png")
    vips = subprocess.run(["vips", "copy", SRC, png], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    image = Image.open(png if vips.returncode == 0 else SRC)
elif SRC.endswith((".heic", ".heif")):
    # pillow-heif's libheif applies irot/imir/clap; EXIF orientation is not applied on top.
    import pillow_heif

    image = pillow_heif.open_heif(SRC, convert_hdr_to_8bit=True).to_pillow()
else:
    image = ImageOps.exif_transpose(Image.open(SRC))

icc = image.info.get("icc_profile")
if image.mode.startswith("I;16"):
    import numpy  # Pillow clips 16-bit gray to 255 when converting: scale it down instead

    image = Image.fromarray((numpy.asarray(image, dtype=numpy.uint16) >> 8).astype(numpy.uint8), "L")
if image.mode == "CMYK":
    image = image.convert("RGB")  # the naive conversion, as the server does without a profile
    icc = None
alpha = image.convert("RGBA").getchannel("A") if "A" in image.getbands() or "transparency" in image.info else None
gray = image.mode in ("L", "LA")
rgb = image.convert("L" if gray else "RGB")
if icc:
    srgb = ImageCms.createProfile("sRGB")
    rgb = ImageCms.profileToProfile(rgb, ImageCms.ImageCmsProfile(io.BytesIO(icc)), srgb, outputMode="RGB")
rgb = rgb.convert("RGB")
if alpha is not None:
    white = Image.new("RGB", rgb.size, (255, 255, 255))
    rgb = Image.composite(rgb, white, alpha)
w, h = rgb.size
print(w, h)
height = max(1, round(h * WIDTH / w))
rgb.resize((WIDTH, height), Image.LANCZOS).save(OUT)
