#!/usr/bin/env python3
"""What the focus (DESIGN.md §14) costs over HTTP, with and without it, in one run.

usage: focus_costs.py IMAGE_SERVER_BINARY [ROUNDS]     (a release build: cargo build --release;
                                                        at most 7 rounds)

One server on fresh file:// storage, namespaces `p` (crop: centre, the default) and `f` (crop:
focus). Each round, alternating so that drift of the machine hits both alike:
- an upload of the 12 MP corpus photo into a new namespace, once with ?focus=0.5,0.5 (nothing is
  detected) and once without (the focus is found on the pool): the client's time for the POST;
- 10 misses each of x200-q{N}.jpg and 600x200-q{N}.jpg (a distinct quality per miss, so each is
  rendered, from the working copy) in `p` and in `f`: the client's time per miss.
Medians are printed as a Markdown table, with the server's own detection timer (/status).
"""
import json, os, socket, statistics, subprocess, sys, tempfile, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE = os.path.join(HERE, "../../../shared/corpus/jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg")
MISSES = 10

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def wait_port(port, within=30):
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")

def timed(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        data = r.read()
        assert r.status in (200, 201), (url, r.status)
    return time.perf_counter() - started, data

def main():
    binary = os.path.abspath(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    assert 1 <= rounds <= 7, "the misses' qualities, 30 + 10 a round, must stay within 100"
    image = open(IMAGE, "rb").read()
    port, status_port = free_port(), free_port()
    work = tempfile.mkdtemp(prefix="focus-costs-")
    server = subprocess.Popen(
        [binary, "serve", "--port", str(port), "--status-port", str(status_port),
         "--namespaces", json.dumps({"f": {"crop": "focus"}})],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        base = f"http://127.0.0.1:{port}"
        paths = {}
        for ns in ("p", "f"):
            _, body = timed("POST", f"{base}/{ns}", image)
            h = json.loads(body)["hash"]
            paths[ns] = f"/{ns}/{h[0:3]}/{h[3:6]}/{h[6:9]}/{h[9:]}"
        # Warm-up: the working copies read once into the source cache, the encoders' tables built.
        for ns in ("p", "f"):
            timed("GET", f"{base}{paths[ns]}/x199.jpg")
            timed("GET", f"{base}{paths[ns]}/599x200.jpg")
        times = {}
        for r in range(rounds):
            quality = 30 + r * MISSES
            for given in ((False, True) if r % 2 == 0 else (True, False)):
                query = "?focus=0.5,0.5" if given else ""
                took, _ = timed("POST", f"{base}/u{r}{int(given)}{query}", image)
                times.setdefault(("upload", given), []).append(took)
            for geometry in ("x200", "600x200"):
                for ns in (("p", "f") if r % 2 == 0 else ("f", "p")):
                    for i in range(MISSES):
                        took, _ = timed("GET", f"{base}{paths[ns]}/{geometry}-q{quality + i}.jpg")
                        times.setdefault((geometry, ns), []).append(took)
        status = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{status_port}/status").read())
    finally:
        server.terminate()
        server.wait()
    ms = lambda xs: f"{statistics.median(xs) * 1000:.1f}"
    print(f"rounds: {rounds}; misses a row: {rounds * MISSES}")
    print("| what | without focus (ms, median) | with focus (ms, median) | ratio |")
    print("| --- | ---: | ---: | ---: |")
    up_without, up_with = times[("upload", True)], times[("upload", False)]
    print(f"| upload of the 12 MP JPEG (POST, 201) | {ms(up_without)} (?focus= given) | {ms(up_with)} (detected) "
          f"| {statistics.median(up_with) / statistics.median(up_without):.3f} |")
    for geometry in ("x200", "600x200"):
        centre, focus = times[(geometry, "p")], times[(geometry, "f")]
        print(f"| miss of {geometry}.jpg | {ms(centre)} (crop: centre) | {ms(focus)} (crop: focus) "
              f"| {statistics.median(focus) / statistics.median(centre):.3f} |")
    print("server's detection timer:", json.dumps(status.get("focus")))

if __name__ == "__main__":
    main()
