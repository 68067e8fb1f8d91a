#!/usr/bin/env python3
"""Seeds for the exif and icc fuzz targets: the EXIF blocks (JPEG APP1, PNG eXIf) and ICC profiles
(JPEG APP2, PNG iCCP) of the shared corpus. usage: extract_blocks.py exif|icc CORPUS OUT_DIR"""
import os, struct, sys, zlib

kind, corpus, out = sys.argv[1:4]
found = 0


def jpeg_segments(b):
    i = 2
    while i + 4 <= len(b) and b[i] == 0xFF:
        m = b[i + 1]
        if m in (0xDA, 0xD9):
            return
        n = struct.unpack(">H", b[i + 2:i + 4])[0]
        yield m, b[i + 4:i + 2 + n]
        i += 2 + n


def png_chunks(b):
    i = 8
    while i + 8 <= len(b):
        n = struct.unpack(">I", b[i:i + 4])[0]
        yield b[i + 4:i + 8], b[i + 8:i + 8 + n]
        i += 12 + n


for root, _, files in os.walk(corpus):
    for f in files:
        b = open(os.path.join(root, f), "rb").read()
        blocks = []
        if b.startswith(b"\xff\xd8"):
            icc = b""
            for m, data in jpeg_segments(b):
                if kind == "exif" and m == 0xE1 and data.startswith(b"Exif\0\0"):
                    blocks.append(data)
                if kind == "icc" and m == 0xE2 and data.startswith(b"ICC_PROFILE\0"):
                    icc += data[14:]
            if icc:
                blocks.append(icc)
        elif b.startswith(b"\x89PNG"):
            for t, data in png_chunks(b):
                if kind == "exif" and t == b"eXIf":
                    blocks.append(data)
                if kind == "icc" and t == b"iCCP":
                    try:
                        blocks.append(zlib.decompress(data[data.index(b"\0") + 2:]))
                    except Exception:
                        pass
        for n, block in enumerate(blocks):
            if len(block) < 1 << 20:
                open(os.path.join(out, f"{f}.{n}"), "wb").write(block)
                found += 1
print(f"{kind}: {found} seeds", file=sys.stderr)
