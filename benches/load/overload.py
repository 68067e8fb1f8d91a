#!/usr/bin/env python3
"""Overload: cold misses offered at four times what the CPU pool renders, with warm hits mixed in.

usage: overload.py IMAGE_SERVER_BINARY [SECONDS]     (a release build: cargo build --release)

One server (defaults: workers = cores, queue_size 128) on fresh storage, one 1920x1200 upload
(the peer bench's medium.jpg). First, what it renders: 8 connections of distinct misses for 10 s
give the render rate R. Then, for SECONDS (default 20) each:
  - hits alone: wrk, 4 connections, one warm URL;
  - hits beside misses: the same wrk, while an open-loop generator (this script, asyncio) offers
    distinct misses at 4 R a second, on as many keep-alive connections as it needs (at most 512);
and prints hit latencies (wrk's p50/p99), what became of the misses (200, 503 and how fast the
503s came), the render queue's depth and the server's resident memory, sampled every 0.2 s.
Needs wrk (Debian).
"""
import asyncio, json, os, re, shutil, socket, statistics, subprocess, sys, tempfile, threading, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE = os.environ.get("IMAGE", os.path.join(HERE, "../../../shared/bench/images/medium.jpg"))

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def get(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.status, r.read()

def post(url, body):
    req = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())

def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

class Sampler(threading.Thread):
    """Resident memory and render queue depth, every 0.2 s."""
    def __init__(self, pid, status_port):
        super().__init__(daemon=True)
        self.pid, self.status_port, self.rss, self.queue, self.stop = pid, status_port, [], [], False
    def run(self):
        while not self.stop:
            self.rss.append(rss_mib(self.pid))
            try:
                _, body = get(f"http://127.0.0.1:{self.status_port}/status")
                self.queue.append(json.loads(body)["render_queue_depth"])
            except OSError:
                pass
            time.sleep(0.2)

def wrk(url, seconds, conns):
    out = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True).stdout
    def ms(label):
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": ms("50%"), "p99": ms("99%"), "non2xx": int(non2xx.group(1)) if non2xx else 0}

async def misses(port, path, rate, seconds, start_width):
    """Offers misses at `rate` a second for `seconds`, open loop; returns [(status, ms)]."""
    results, idle, open_conns, lock = [], [], [0], asyncio.Lock()
    counter = [start_width]
    async def connection():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return reader, writer
    async def one():
        w = counter[0]; counter[0] += 1
        # Widths past the image's width give the full width, so vary the quality too.
        target = f"{path}/w{200 + w % 1500}-q{30 + (w // 1500) % 66}.jpg"
        async with lock:
            conn = idle.pop() if idle else None
            if conn is None:
                if open_conns[0] >= 512:
                    results.append((0, 0.0)); return
                open_conns[0] += 1
        started = time.perf_counter()
        try:
            if conn is None:
                conn = await connection()
            reader, writer = conn
            writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
            await reader.readexactly(length)
            results.append((status, (time.perf_counter() - started) * 1000))
            idle.append(conn)
        except (OSError, asyncio.IncompleteReadError, ValueError, AttributeError):
            results.append((-1, (time.perf_counter() - started) * 1000))
            open_conns[0] -= 1
    tasks, t0, n = [], time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        due = t0 + n / rate
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        tasks.append(asyncio.create_task(one()))
        n += 1
    await asyncio.gather(*tasks)
    for reader, writer in idle:
        writer.close()
    return results

def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")

def main():
    binary = os.path.abspath(sys.argv[1])
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    port, status_port = free_port(), free_port()
    work = tempfile.mkdtemp()
    # Up to 512 connections from one address: no per-client cap on this loopback bench.
    proc = subprocess.Popen([binary, "serve", "--port", str(port), "--status-port", str(status_port),
                             "--max-connections-per-client", "0"],
                            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                get(f"http://127.0.0.1:{status_port}/health"); break
            except OSError:
                time.sleep(0.1)
        h = post(f"http://127.0.0.1:{port}/p", open(IMAGE, "rb").read())["hash"]
        path = f"/p/{h[:3]}/{h[3:6]}/{h[6:9]}/{h[9:]}"
        hit = f"http://127.0.0.1:{port}{path}/w200-q80.jpg"
        get(hit)
        status = lambda: json.loads(get(f"http://127.0.0.1:{status_port}/status")[1])
        # The render rate: closed loop, 8 connections, distinct misses.
        before, t0 = status()["renders"], time.perf_counter()
        results = asyncio.run(closed_loop(port, path, 8, 10))
        rate = (status()["renders"] - before) / (time.perf_counter() - t0)
        idle_rss = rss_mib(proc.pid)
        alone = wrk(hit, seconds, 4)
        sampler = Sampler(proc.pid, status_port); sampler.start()
        box = {}
        t = threading.Thread(target=lambda: box.update(r=asyncio.run(misses(port, path, 4 * rate, seconds, 100_000))))
        t.start()
        beside = wrk(hit, seconds, 4)
        t.join()
        sampler.stop = True; sampler.join()
        r = box["r"]
        ok = [ms for s, ms in r if s == 200]
        busy = [ms for s, ms in r if s == 503]
        other = len(r) - len(ok) - len(busy)
        print(f"Overload, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {os.path.basename(IMAGE)}: "
              f"renders {rate:.0f}/s alone; misses offered at {4 * rate:.0f}/s (4x) for {seconds} s\n")
        print("| | hits alone | hits beside the misses |\n| --- | ---: | ---: |")
        print(f"| hit req/s | {alone['rps']:.0f} | {beside['rps']:.0f} |")
        print(f"| hit p50 ms | {alone['p50']:.2f} | {beside['p50']:.2f} |")
        print(f"| hit p99 ms | {alone['p99']:.2f} | {beside['p99']:.2f} |")
        print(f"| hits not 200 | {alone['non2xx']} | {beside['non2xx']} |\n")
        print("| misses | count | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: |")
        print(f"| 200 (rendered) | {len(ok)} | {pct(ok, .5):.1f} | {pct(ok, .99):.1f} |")
        print(f"| 503 (queue full) | {len(busy)} | {pct(busy, .5):.2f} | {pct(busy, .99):.2f} |")
        print(f"| other (no connection, reset) | {other} | | |\n")
        print(f"Render queue depth: at most {max(sampler.queue, default=0)} (queue_size 128). Resident memory: "
              f"{idle_rss:.0f} MiB before, at most {max(sampler.rss):.0f} MiB during, {rss_mib(proc.pid):.0f} MiB after.")
    finally:
        proc.kill(); proc.wait()
        shutil.rmtree(work, ignore_errors=True)

async def closed_loop(port, path, conns, seconds):
    """`conns` connections each asking distinct misses one after another for `seconds`."""
    end, counter, results = time.perf_counter() + seconds, [50_000], []
    async def worker():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < end:
            w = counter[0]; counter[0] += 1
            writer.write(f"GET {path}/w{200 + w % 1500}-q{30 + (w // 1500) % 66}.jpg HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
            await reader.readexactly(length)
            results.append(int(head.split(b" ", 2)[1]))
        writer.close()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return results

if __name__ == "__main__":
    main()
