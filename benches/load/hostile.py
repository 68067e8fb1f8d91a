#!/usr/bin/env python3
"""Hostile clients beside honest ones (issue 18; DESIGN.md §15): does a fresh attacker's load cost
honest clients their service?

usage: hostile.py IMAGE_SERVER_BINARY [SECONDS]     (a release build: cargo build --release)

Two runs of SECONDS (default 30) each, each on a new server (config/production.json's bounds and
rate limit, file storage in a temporary directory) with the same three uploads:
  - honest alone: 4 threads, each a loop of one request after the other, each request on a new
    connection from one of 254 loopback addresses of the thread's (127.1X.0.1-254: many users,
    each asking little): 80 % hits (small variants rendered before the run), 20 % misses (a new
    width of one of the images);
  - honest beside hostile: the same, while, each from a loopback address of its own (Linux
    routes all of 127/8 to lo, so each attacker is a client of its own to the server):
      idle h2c      127.0.0.2  connections that send the HTTP/2 preface, a SETTINGS frame and
                               one request's headers, then nothing; reopened when closed;
      slow readers  127.0.0.3  connections asking full.png of the 12 MP photo (about 25 MB)
                               with a 4 KiB receive buffer, never reading; reopened when closed;
      outputs       127.0.0.4  uploads asking 3,000 outputs, then 16 of the largest, in a loop;
      junk sizes    127.0.0.5  w4000.png, 3000x3000.png, full.png of each image, in a loop.
Each attacker runs in a process of its own (forked), the honest threads in this one; HOSTILE (a
comma-separated list of the functions below, all four by default) picks which attack.
ATTACKERS_NICE (e.g. 19) lowers the attackers' processes' priority, as a stand-in for running
them on other cores (a real attacker's load costs its own machines, not the server's); it also
starves them, so they ask less than they would. ATTACKERS_CORE (e.g. 1) runs them on that CPU
and the server and the honest clients on the others, in both runs, so that the attackers' own
processes take nothing from the server's cores and ask as fast as they can: the closest this
machine comes to attackers on machines of their own (the server then has one core fewer).
HONEST_RATE (requests a second per honest thread) paces the honest clients: without it each thread
asks as fast as it is answered, which alone keeps both cores busy with its misses' renders, so
that any CPU the attackers' own processes take shows in the honest p99.
Prints, for the honest clients of each run: answers, success rate, p50/p99 latency; the server's
peak RSS (VmHWM) and CPU time; what the attackers got (statuses, connections closed by the
server) and the CPU time their processes used.
"""
import multiprocessing, os, random, resource, shutil, socket, statistics, subprocess, sys, tempfile, threading, time, json
import http.client, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "../../../shared/corpus")
IMAGES = ["jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg", "jpeg/photo_2.5mp_storm_baseline_exif.jpg",
          "jpeg/photo_4.1mp_autumn_progressive.jpg"]


def attackers_core():
    core = os.environ.get("ATTACKERS_CORE")
    return int(core) if core else None


def server_cpus():
    """The server's and honest clients' CPUs: all but the attackers' core, if one is set."""
    core = attackers_core()
    if core is not None:
        os.sched_setaffinity(0, os.sched_getaffinity(0) - {core})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Server:
    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="hostile-")
        self.port, self.status_port = free_port(), free_port()
        with open(os.path.join(HERE, "../../config/production.json")) as f:
            config = json.load(f)
        config.update({"listen": "127.0.0.1", "storage": f"file://{self.dir}/data", "server_port": self.port,
                       "status_port": self.status_port})
        path = os.path.join(self.dir, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.proc = subprocess.Popen([binary, "serve", "--config", path], cwd=self.dir, preexec_fn=server_cpus,
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "log"), "w"),
                                     env={**os.environ, "RUST_LOG": "warn"})
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.status_port}/health", timeout=1)
                break
            except Exception:
                time.sleep(0.05)
        self.paths = []
        for image in IMAGES:
            with open(os.path.join(CORPUS, image), "rb") as f:
                req = urllib.request.Request(f"http://127.0.0.1:{self.port}/p", data=f.read(), method="POST")
            h = json.loads(urllib.request.urlopen(req, timeout=120).read())["hash"]
            self.paths.append(f"/p/{h[:3]}/{h[3:6]}/{h[6:9]}/{h[9:]}")
        self.hits = [f"{p}/{v}" for p in self.paths for v in ("w200.jpg", "x100.webp", "w400.jpg")]
        for hit in self.hits:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}{hit}", timeout=120).read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def honest(server, stop, results, seed):
    """One honest thread: one request after the other, each from one of 254 loopback addresses of
    its own (many users, each asking little), on a new connection."""
    rnd = random.Random(seed)
    rate = float(os.environ.get("HONEST_RATE", "0"))
    due = time.monotonic()
    while not stop.is_set():
        if rate:
            due += 1 / rate
            time.sleep(max(0.0, due - time.monotonic()))
        if rnd.random() < 0.8:
            path = rnd.choice(server.hits)
        else:
            path = f"{rnd.choice(server.paths)}/w{rnd.randint(100, 1500)}-q{rnd.randint(30, 95)}.jpg"
        started = time.monotonic()
        status = request_from(f"127.{10 + seed}.0.{rnd.randint(1, 254)}", server, "GET", path, timeout=30)
        results.append((status, time.monotonic() - started))


def connect_from(addr, port, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((addr, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def h2_headers_frame(path, port):
    # One HEADERS frame, literal fields without indexing, no Huffman: enough for a GET.
    def field(name, value):
        n, v = name.encode(), value.encode()
        return bytes([0x00, len(n)]) + n + bytes([len(v)]) + v
    block = b"\x82\x86" + field(":path", path) + field(":authority", f"127.0.0.1:{port}")
    return len(block).to_bytes(3, "big") + b"\x01\x05" + (1).to_bytes(4, "big") + block


def holder(make, stop, counts, name, n):
    """Keeps n connections made by `make` open; counts how often the server closed one."""
    socks = []
    while not stop.is_set():
        while len(socks) < n and not stop.is_set():
            try:
                socks.append(make())
            except Exception:
                counts[name + " refused"] = counts.get(name + " refused", 0) + 1
                time.sleep(0.05)
        time.sleep(0.5)
        alive = []
        for s in socks:
            try:
                s.setblocking(False)
                data = s.recv(1, socket.MSG_PEEK)
                if data == b"":
                    counts[name + " closed by server"] = counts.get(name + " closed by server", 0) + 1
                    s.close()
                    continue
            except BlockingIOError:
                pass
            except OSError:
                counts[name + " closed by server"] = counts.get(name + " closed by server", 0) + 1
                s.close()
                continue
            alive.append(s)
        socks = alive
    for s in socks:
        s.close()


def idle_h2c(server, stop, counts):
    def make():
        s = connect_from("127.0.0.2", server.port)
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
                  + h2_headers_frame(server.hits[0], server.port))
        return s
    holder(make, stop, counts, "idle h2c", 100)


def slow_readers(server, stop, counts):
    def make():
        s = connect_from("127.0.0.3", server.port, rcvbuf=4096)
        s.sendall(f"GET {server.paths[0]}/full.png HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return s
    holder(make, stop, counts, "slow reader", 100)


def request_from(addr, server, method, path, body=None, timeout=60):
    class Bound(http.client.HTTPConnection):
        def connect(self):
            self.sock = connect_from(addr, self.port)
            self.sock.settimeout(timeout)
    conn = Bound("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request(method, path, body=body)
        r = conn.getresponse()
        r.read()
        return r.status
    except Exception:
        return 0
    finally:
        conn.close()


def outputs_attacker(server, stop, counts):
    with open(os.path.join(CORPUS, IMAGES[0]), "rb") as f:
        photo = f.read()
    many = ",".join(f"w{100 + i}.png" for i in range(3000))
    big = ",".join(f"w{3000 + i}.png" for i in range(16))
    while not stop.is_set():
        for outputs in (many, big):
            status = request_from("127.0.0.4", server, "POST", f"/p?wait=false&outputs={outputs}", photo)
            counts[f"outputs {status}"] = counts.get(f"outputs {status}", 0) + 1


def junk_attacker(server, stop, counts):
    while not stop.is_set():
        for p in server.paths:
            for v in ("w4000.png", "3000x3000.png", "full.png"):
                status = request_from("127.0.0.5", server, "GET", f"{p}/{v}")
                counts[f"junk {status}"] = counts.get(f"junk {status}", 0) + 1


def attacker(f, server, stop, out):
    """One attacker in a process of its own, as a real one would be: its Python work does not
    take the honest clients' interpreter lock (their latencies are measured in this process)."""
    os.nice(int(os.environ.get("ATTACKERS_NICE", "0")))
    if attackers_core() is not None:
        os.sched_setaffinity(0, {attackers_core()})
    counts = {}
    f(server, stop, counts)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    counts["attackers' CPU seconds"] = round(usage.ru_utime + usage.ru_stime, 1)
    out.put(counts)


def run(binary, seconds, hostile):
    server = Server(binary)
    stop, results, counts = threading.Event(), [], {}
    threads = [threading.Thread(target=honest, args=(server, stop, results, i)) for i in range(4)]
    attackers, stop_attackers, out = [], multiprocessing.Event(), multiprocessing.Queue()
    if hostile:
        chosen = os.environ.get("HOSTILE", "idle_h2c,slow_readers,outputs_attacker,junk_attacker").split(",")
        attackers = [multiprocessing.Process(target=attacker, args=(globals()[name], server, stop_attackers, out))
                     for name in chosen]
    for p in attackers:
        p.start()
    for t in threads:
        t.start()
    server_cpu = cpu_seconds(server.proc.pid)
    time.sleep(seconds)
    server_cpu = cpu_seconds(server.proc.pid) - server_cpu
    stop.set()
    stop_attackers.set()
    for t in threads:
        t.join()
    for _ in attackers:
        for name, n in out.get().items():
            counts[name] = round(counts.get(name, 0) + n, 1)
    for p in attackers:
        p.join()
    peak = hwm_mib(server.proc.pid)
    server.stop()
    ok = sorted(d for s, d in results if s == 200)
    rate = len(ok) / max(1, len(results))
    p = lambda q: ok[min(len(ok) - 1, int(q * len(ok)))] * 1000 if ok else float("nan")
    statuses = {}
    for s, _ in results:
        statuses[s] = statuses.get(s, 0) + 1
    return {"answers": len(results), "success": rate, "p50_ms": p(0.5), "p99_ms": p(0.99),
            "peak_rss_mib": peak, "server_cpu_s": server_cpu, "attackers": counts, "statuses": statuses}


def main():
    binary = os.path.abspath(sys.argv[1])
    server_cpus()  # the honest clients' threads; the attackers' processes set their own
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    alone = run(binary, seconds, hostile=False)
    beside = run(binary, seconds, hostile=True)
    print(f"honest alone:          {alone['answers']} answers, {alone['success']:.1%} 200, "
          f"p50 {alone['p50_ms']:.1f} ms, p99 {alone['p99_ms']:.1f} ms, peak RSS {alone['peak_rss_mib']:.0f} MiB")
    print(f"honest beside hostile: {beside['answers']} answers, {beside['success']:.1%} 200, "
          f"p50 {beside['p50_ms']:.1f} ms, p99 {beside['p99_ms']:.1f} ms, peak RSS {beside['peak_rss_mib']:.0f} MiB")
    cores = len(os.sched_getaffinity(0))
    print(f"server CPU seconds: alone {alone['server_cpu_s']:.1f}, beside hostile {beside['server_cpu_s']:.1f} "
          f"(of {cores * seconds} on the {cores} cores of the server and honest clients)")
    print(f"ratios: success {beside['success'] / alone['success']:.3f}x, p99 {beside['p99_ms'] / alone['p99_ms']:.2f}x")
    print("honest statuses alone:", json.dumps(alone["statuses"], sort_keys=True),
          " beside hostile:", json.dumps(beside["statuses"], sort_keys=True))
    print("attackers:", json.dumps(beside["attackers"], sort_keys=True))


if __name__ == "__main__":
    main()
