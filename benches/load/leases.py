#!/usr/bin/env python3
"""What a miss costs with and without render leases (DESIGN.md §12), on file:// and on a real
S3-compatible server (moto), side by side in one run.

usage: leases.py IMAGE_SERVER_BINARY [ROUNDS]     (a release build: cargo build --release)

For each round, backend (file://, s3:// on moto) and setting (--render-leases=false, true), a
fresh server on fresh storage gets one small upload, 20 warm-up misses, then N sequential misses
of distinct new variants (w{W}.jpg, a width each); the miss latency is the client's, over HTTP
on loopback. Settings alternate within each round so that drift of the machine hits both alike.
A lease costs a conditional create before the render (plus a delete after the answer).
Needs: moto_server on PATH (scripts/test installs it).
"""
import json, os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE = os.path.join(HERE, "../../../shared/corpus/jpeg/photo_0.24mp_owl_baseline.jpg")
MISSES = 200
S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
          "AWS_ALLOW_HTTP": "true"}

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

def request(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.read()

def run(binary, storage, leases, env, widths):
    port, status = free_port(), free_port()
    work = tempfile.mkdtemp()
    args = [binary, "serve", "--port", str(port), "--status-port", str(status), "--storage", storage,
            f"--render-leases={'true' if leases else 'false'}"]
    proc = subprocess.Popen(args, cwd=work, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        base = f"http://127.0.0.1:{port}"
        _, body = request("POST", f"{base}/b", open(IMAGE, "rb").read())
        h = json.loads(body)["hash"]
        path = f"{base}/b/{h[:3]}/{h[3:6]}/{h[6:9]}/{h[9:]}"
        for w in range(60, 80):
            request("GET", f"{path}/w{w}.jpg")
        took = []
        for w in widths:
            started = time.perf_counter()
            code, _ = request("GET", f"{path}/w{w}.jpg")
            took.append((time.perf_counter() - started) * 1000)
            assert code == 200
        return took
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)

def main():
    binary = os.path.abspath(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    moto_port = free_port()
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(moto_port)
        request("PUT", f"http://127.0.0.1:{moto_port}/bench")
        s3_env = {**S3_ENV, "AWS_ENDPOINT": f"http://127.0.0.1:{moto_port}"}
        results = {}
        widths = list(range(100, 100 + MISSES))
        n = 0
        for r in range(rounds):
            for backend in ("file", "s3"):
                for leases in ((False, True) if r % 2 == 0 else (True, False)):
                    n += 1
                    if backend == "file":
                        storage, env = f"file://{tempfile.mkdtemp()}", {}
                    else:
                        storage, env = f"s3://bench/run{n}", s3_env
                    took = run(binary, storage, leases, env, widths)
                    results.setdefault((backend, leases), []).extend(took)
        print(f"Miss latency over HTTP on loopback, {rounds} rounds x {MISSES} sequential misses per setting, "
              f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores; image {os.path.basename(IMAGE)}, "
              "variants w100..w299.jpg")
        print()
        print("| storage | leases off: median ms | p90 ms | leases on: median ms | p90 ms | on / off (median) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for backend in ("file", "s3"):
            off, on = results[(backend, False)], results[(backend, True)]
            p90 = lambda xs: statistics.quantiles(xs, n=10)[-1]
            name = "file://" if backend == "file" else "s3:// (moto)"
            print(f"| {name} | {statistics.median(off):.2f} | {p90(off):.2f} | {statistics.median(on):.2f} | "
                  f"{p90(on):.2f} | {statistics.median(on) / statistics.median(off):.2f} |")
    finally:
        moto.kill()
        moto.wait()

if __name__ == "__main__":
    main()
