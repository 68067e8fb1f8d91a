#!/usr/bin/env python3
"""The attacks of issue 9 against one image-server binary, each on a fresh server: prints one JSON
object of figures. Usage: attacks.py BIN [extra server flags...]"""
import base64, hashlib, io, json, os, socket, struct, subprocess, sys, tempfile, threading, time, urllib.request, zlib

CORPUS = os.path.join(os.path.dirname(__file__), "../../../shared/corpus")
BIN, FLAGS = sys.argv[1], sys.argv[2:]


def proc(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1])
    raise KeyError(field)


def cpu(pid):
    parts = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, *flags):
        self.dir = tempfile.mkdtemp()
        s = socket.socket(); s.bind(("127.0.0.1", 0)); self.port = s.getsockname()[1]; s.close()
        s = socket.socket(); s.bind(("127.0.0.1", 0)); self.status = s.getsockname()[1]; s.close()
        self.p = subprocess.Popen([BIN, "serve", "--port", str(self.port), "--status-port", str(self.status), *FLAGS, *flags],
                                  cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.status}/health", timeout=1); break
            except Exception:
                time.sleep(0.1)

    def request(self, method, path, body=None, timeout=600):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except Exception as e:
            return 0, str(e).encode()

    def reset_peak(self):
        open(f"/proc/{self.p.pid}/clear_refs", "w").write("5")

    def close(self):
        self.p.kill(); self.p.wait()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def icc_bomb():
    deflated = zlib.compress(b"\0" * (100 << 20), 9)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + png_chunk(b"iCCP", b"bomb\0\0" + deflated) + png_chunk(b"zTXt", b"Comment\0\0" + deflated)
            + png_chunk(b"IDAT", zlib.compress(b"\0\x80")) + png_chunk(b"IEND", b""))


def gif_canvas(w, h):
    # Header, logical screen without a global palette, one 1x1 frame with a 2-colour palette.
    return (b"GIF89a" + struct.pack("<HHBBB", w, h, 0, 0, 0)
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0x80) + bytes([255, 0, 0, 0, 0, 0])
            + b"\x02\x02\x44\x01\x00" + b"\x3b")


def scan_bomb(scans):
    b = open(os.path.join(CORPUS, "jpeg/photo_15.9mp_dandelions_progressive.jpg"), "rb").read()
    sof = b.index(b"\xff\xc2"); luma = b[sof + 10]
    bits = ([0] + [1] * 14) * ((664 * 374 + 32766) // 32767)
    bits += [1] * (-len(bits) % 8)
    data = bytearray()
    for i in range(0, len(bits), 8):
        v = int("".join(map(str, bits[i:i + 8])), 2); data.append(v)
        if v == 0xFF: data.append(0)
    table = bytes([0xFF, 0xC4, 0, 20, 0x13, 1] + [0] * 15 + [0xE0])
    scan = bytes([0xFF, 0xDA, 0, 8, 1, luma, 0x03, 63, 63, 0]) + bytes(data)
    return b[:-2] + table + scan * scans + b"\xff\xd9"


def too_wide_png():
    row = b"\0" + b"\x80\x40\x20" * 17000
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 17000, 10, 8, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(row * 10)) + png_chunk(b"IEND", b""))


def path_of(reply):
    h = json.loads(reply)["hash"]
    return f"/p/{h[:3]}/{h[3:6]}/{h[6:9]}/{h[9:]}"


out = {}

# 1. A progressive JPEG with 20,000 scans, uploaded once.
s = Server(); before = cpu(s.p.pid)
status, _ = s.request("POST", "/p", scan_bomb(20_000))
out["scan_bomb"] = {"status": status, "cpu_s": round(cpu(s.p.pid) - before, 2)}
s.close()

# 2. 60 concurrent uploads of 20 MB (a real JPEG padded with zeros).
s = Server(); rss0 = proc(s.p.pid, "VmRSS:")
body = open(os.path.join(CORPUS, "jpeg/photo_0.24mp_owl_baseline.jpg"), "rb").read()
body += b"\0" * ((20 << 20) - len(body))
results = []
threads = [threading.Thread(target=lambda: results.append(s.request("POST", "/p", body)[0])) for _ in range(60)]
[t.start() for t in threads]; [t.join() for t in threads]
out["uploads_60x20mb"] = {"peak_rss_rise_mib": (proc(s.p.pid, "VmHWM:") - rss0) // 1024,
                          "refused_503": results.count(503), "stored": sum(1 for r in results if r in (200, 201))}
s.close()

# 3. 300 connections that send `GET /p/` and nothing more; how many are open 31 s later.
s = Server(); conns = []
for _ in range(300):
    c = socket.create_connection(("127.0.0.1", s.port)); c.sendall(b"GET /p/"); conns.append(c)
time.sleep(31)
open_ = 0
for c in conns:
    c.setblocking(False)
    try:
        open_ += 0 if c.recv(1) == b"" else 1
    except BlockingIOError:
        open_ += 1
    except OSError:
        pass
served, _ = s.request("GET", "/p/6e0/072/682/e66287b662827da75b244a3/info.json", timeout=5)
out["slowloris_300"] = {"open_after_31s": open_, "other_client_status": served}
[c.close() for c in conns]; s.close()

# 4. A 1x1 PNG whose ICC profile and zTXt chunk inflate to 100 MB each.
s = Server(); s.reset_peak(); rss0 = proc(s.p.pid, "VmRSS:")
status, _ = s.request("POST", "/p", icc_bomb())
out["icc_bomb"] = {"status": status, "peak_rss_rise_mib": (proc(s.p.pid, "VmHWM:") - rss0) // 1024}
s.close()

# 5. A 5000x5000 GIF whose only frame is 1x1.
s = Server(); s.reset_peak(); rss0 = proc(s.p.pid, "VmRSS:")
status, reply = s.request("POST", "/p", gif_canvas(5000, 5000))
out["gif_canvas"] = {"status": status, "peak_rss_rise_mib": (proc(s.p.pid, "VmHWM:") - rss0) // 1024}
s.close()

# 6. full.webp of a 17000 px wide original.
s = Server(); status, reply = s.request("POST", "/p", too_wide_png())
out["full_webp_17000"] = {"status": s.request("GET", path_of(reply) + "/full.webp")[0] if status in (200, 201) else status}
s.close()

# 7. Minting variants: one client asks for 600 distinct widths (the first 600 of w1..w4096 x q x formats).
s = Server(); status, reply = s.request("POST", "/p", open(os.path.join(CORPUS, "jpeg/ijg_testorig.jpg"), "rb").read())
codes = [s.request("GET", f"{path_of(reply)}/w{w}-q{30 + w % 60}.jpg")[0] for w in range(1, 601)]
out["mint_600_variants"] = {"rendered": codes.count(200), "refused_429": codes.count(429)}
s.close()

print(json.dumps(out))
