#!/usr/bin/env python3
"""Makes JPEG XL, TIFF and AVIF originals from corpus photos with tools nobody on this project
wrote: Debian's cjxl (libjxl-tools), avifenc (libavif-bin), Pillow, pillow-heif (x265),
libtiff's tiffcp and libvips' vips. Used by the format tests (tests/it/formats.rs) and as fuzzing seeds (fuzz/run.sh).

usage: make_formats.py jxl|tiff|avif|heic CORPUS_DIR OUT_DIR      prints one made file name a line
"""
import os
import subprocess
import sys

from PIL import Image

KIND, CORPUS, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
PHOTO = os.path.join(CORPUS, "jpeg/photo_0.24mp_owl_baseline.jpg")
ALPHA = os.path.join(CORPUS, "png/rgba_dice_transparent.png")
ROTATED = os.path.join(CORPUS, "jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg")
GIF = os.path.join(CORPUS, "gif")
os.makedirs(OUT, exist_ok=True)


def out(name):
    print(name)
    return os.path.join(OUT, name)


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def jxl():
    png = os.path.join(OUT, "photo.png")
    Image.open(PHOTO).convert("RGB").save(png)
    run("cjxl", png, out("vardct.jxl"), "-d", "1", "-m", "0")
    run("cjxl", png, out("modular.jxl"), "-q", "90", "-m", "1")
    run("cjxl", png, out("lossless.jxl"), "-d", "0")
    run("cjxl", PHOTO, out("recompressed_jpeg.jxl"), "--lossless_jpeg=1")
    run("cjxl", ALPHA, out("alpha.jxl"), "-d", "1")
    gray = os.path.join(OUT, "gray.png")
    Image.open(PHOTO).convert("L").save(gray)
    run("cjxl", gray, out("gray.jxl"), "-d", "1")
    run("cjxl", os.path.join(GIF, "anim_loop3_10f.gif"), out("animated.jxl"), "-d", "1")
    run("cjxl", ROTATED, out("recompressed_jpeg_exif6.jxl"), "--lossless_jpeg=1")
    for f in (png, gray):
        os.remove(f)


def tiff():
    photo = Image.open(PHOTO).convert("RGB")
    for compression in ("raw", "tiff_lzw", "tiff_adobe_deflate", "packbits", "jpeg"):
        photo.save(out(f"rgb_{compression}.tif"), compression=compression)
    # Pillow writes strips; tiffcp (libtiff) rewrites one as 64x64 tiles.
    run("tiffcp", "-t", "-w", "64", "-l", "64", "-c", "lzw", os.path.join(OUT, "rgb_raw.tif"),
        out("rgb_tiles_lzw.tif"))
    run("tiffcp", "-s", "-r", "7", "-c", "zip", os.path.join(OUT, "rgb_raw.tif"), out("rgb_strips7_deflate.tif"))
    run("vips", "colourspace", PHOTO, out("rgb16_lzw.tif") + "[compression=lzw]", "rgb16")
    photo.convert("L").save(out("gray_lzw.tif"), compression="tiff_lzw")
    run("vips", "colourspace", PHOTO, out("gray16.tif"), "grey16")
    photo.convert("CMYK").save(out("cmyk_lzw.tif"), compression="tiff_lzw")
    Image.open(ALPHA).convert("RGBA").save(out("rgba_deflate.tif"), compression="tiff_adobe_deflate")
    Image.open(ALPHA).convert("LA").save(out("gray_alpha.tif"))
    pages = [photo, photo.convert("L").convert("RGB").rotate(90, expand=True)]
    pages[0].save(out("multipage.tif"), save_all=True, append_images=pages[1:], compression="tiff_lzw")
    # Stored turned a quarter anticlockwise, with the tag that shows it upright again.
    photo.transpose(Image.Transpose.ROTATE_90).save(out("orientation6.tif"), tiffinfo={274: 6})


def avif():
    """AVIFs whose irot/imir (and clap) the reader must apply: each combination once."""
    png = os.path.join(OUT, "photo.png")
    Image.open(PHOTO).convert("RGB").save(png)
    for name, flags in [("irot1", ["--irot", "1"]), ("irot2", ["--irot", "2"]), ("irot3", ["--irot", "3"]),
                        ("imir0", ["--imir", "0"]), ("imir1", ["--imir", "1"]),
                        ("irot1_imir0", ["--irot", "1", "--imir", "0"]), ("irot3_imir1", ["--irot", "3", "--imir", "1"]),
                        ("clap", ["--crop", "40,20,400,300"])]:
        run("avifenc", "-s", "8", *flags, png, out(f"{name}.avif"))
    os.remove(png)


def heic():
    """Small HEICs by pillow-heif's x265 (the corpus one is 12 MP): RGB, alpha, and EXIF
    orientation 6 (which pillow-heif writes as irot)."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    photo = Image.open(PHOTO).convert("RGB").resize((300, 199))
    photo.save(out("rgb.heic"), quality=50)
    photo.resize((96, 64)).save(out("small.heic"), quality=30)
    Image.open(ALPHA).convert("RGBA").resize((100, 75)).save(out("alpha.heic"), quality=50)
    exif = Image.Exif()
    exif[274] = 6
    photo.save(out("exif6.heic"), quality=50, exif=exif.tobytes())


{"jxl": jxl, "tiff": tiff, "avif": avif, "heic": heic}[KIND]()
