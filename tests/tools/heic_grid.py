#!/usr/bin/env python3
"""Makes a large HEIC grid out of a real one, for the memory tests: the primary grid of IN is
rewritten to COLS x ROWS tiles (the file's own HEVC tiles, each used again in turn) with an output
of WIDTH x HEIGHT pixels. Only boxes change (iref, the grid's payload and ispe, iloc offsets); the
coded tiles stay as the camera wrote them.

usage: heic_grid.py IN OUT COLS ROWS WIDTH HEIGHT
"""
import struct
import sys


def boxes(data, start, end):
    """(type, start, header length, end) of each box in data[start:end]."""
    out, at = [], start
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[at + 8:at + 16])[0], 16
        elif size == 0:
            size = end - at
        out.append((kind.decode("latin1"), at, header, at + size))
        at += size
    return out


def box(kind, body):
    return struct.pack(">I4s", len(body) + 8, kind.encode("latin1")) + body


def uint(data, at, size):
    return int.from_bytes(data[at:at + size], "big") if size else 0


def main(src, dst, cols, rows, width, height):
    data = bytearray(open(src, "rb").read())
    top = {kind: (start, header, end) for kind, start, header, end in boxes(data, 0, len(data))}
    m_start, m_header, m_end = top["meta"]
    children = boxes(data, m_start + m_header + 4, m_end)
    part = {kind: (start, header, end) for kind, start, header, end in children}
    s, h, _ = part["pitm"]
    primary = uint(data, s + h + 4, 2)

    # iref: the primary's dimg references, cols x rows of them, cycling through its tiles.
    s, h, e = part["iref"]
    assert data[s + h] == 0, "iref version 0"
    refs, tiles = bytearray(data[s + h:s + h + 4]), None
    for kind, rs, rh, re in boxes(data, s + h + 4, e):
        body = data[rs + rh:re]
        if kind == "dimg" and uint(body, 0, 2) == primary:
            count = uint(body, 2, 2)
            tiles = [uint(body, 4 + 2 * i, 2) for i in range(count)]
            ids = [tiles[i % count] for i in range(cols * rows)]
            body = struct.pack(">HH", primary, len(ids)) + b"".join(struct.pack(">H", i) for i in ids)
        refs += box(kind, bytes(body))
    assert tiles, "the primary item is not a grid"
    new_iref = box("iref", bytes(refs))
    delta = len(new_iref) - (e - s)

    # ipma: the primary's ispe, set to the new output size.
    s, h, e = part["iprp"]
    iprp = {kind: (ps, ph, pe) for kind, ps, ph, pe in boxes(data, s + h, e)}
    cs, ch, ce = iprp["ipco"]
    properties = boxes(data, cs + ch, ce)
    ms, mh, _ = iprp["ipma"]
    version, flags = data[ms + mh], uint(data, ms + mh + 1, 3)
    entries = uint(data, ms + mh + 4, 4)
    at = ms + mh + 8
    for _ in range(entries):
        item_len = 2 if version < 1 else 4
        item = uint(data, at, item_len)
        at += item_len
        associations = data[at]
        at += 1
        for _ in range(associations):
            size = 2 if flags & 1 else 1
            index = uint(data, at, size) & (0x7FFF if size == 2 else 0x7F)
            at += size
            if item == primary and properties[index - 1][0] == "ispe":
                _, ps, ph, _ = properties[index - 1]
                data[ps + ph + 4:ps + ph + 12] = struct.pack(">II", width, height)

    # iloc: the grid payload (rows, columns, output size), and offsets into the file moved by delta.
    s, h, e = part["iloc"]
    at = s + h
    version = data[at]
    sizes = uint(data, at + 4, 2)
    offset_size, length_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    index_size = sizes & 15 if version >= 1 else 0
    at += 6
    count_len = 2 if version < 2 else 4
    items = uint(data, at, count_len)
    at += count_len
    for _ in range(items):
        item = uint(data, at, count_len)
        at += count_len
        method = uint(data, at, 2) & 15 if version >= 1 else 0
        at += 2 if version >= 1 else 0
        at += 2  # data_reference_index
        base_at, base = at, uint(data, at, base_size)
        at += base_size
        extents = uint(data, at, 2)
        at += 2
        for n in range(extents):
            at += index_size
            offset_at, offset = at, uint(data, at, offset_size)
            at += offset_size + length_size
            if item == primary and n == 0:
                payload = base + offset
                if method == 1:
                    ds, dh, _ = part["idat"]
                    payload += ds + dh
                grid_flags = data[payload + 1]
                data[payload + 2] = rows - 1
                data[payload + 3] = cols - 1
                dims = ">II" if grid_flags & 1 else ">HH"
                data[payload + 4:payload + 4 + struct.calcsize(dims)] = struct.pack(dims, width, height)
            if method == 0 and base_size == 0:
                data[offset_at:offset_at + offset_size] = (offset + delta).to_bytes(offset_size, "big")
        if method == 0 and base_size:
            data[base_at:base_at + base_size] = (base + delta).to_bytes(base_size, "big")

    s, _, e = part["iref"]
    meta = data[m_start + m_header:s] + new_iref + data[e:m_end]
    out = data[:m_start] + box("meta", bytes(meta)) + data[m_end:]
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:7]))
