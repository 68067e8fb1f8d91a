#!/usr/bin/env python3
"""Prints issue 3's target table from one run of benches/load/run.sh.
usage: summarize.py RESULTS.tsv PILLOW.txt CRITERION.txt SSIM.md"""
import csv, re, sys

rows = {}
with open(sys.argv[1]) as f:
    for r in csv.DictReader(f, delimiter="\t"):
        rows[(r["label"], r["conns"])] = r

def get(label, conns, col):
    r = rows.get((label, str(conns)))
    return float(r[col]) if r and r[col] not in ("", None) else None

def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b else "n/a"

def fmt(v, unit=""):
    return "n/a" if v is None else (f"{v:,.1f}{unit}" if v < 1000 else f"{v:,.0f}{unit}")

out = []
def line(figure, ours, peer, peer_name, r, target, ok):
    out.append(f"| {figure} | {ours} | {peer_name}: {peer} | {r} | {target} | {'met' if ok else 'MISSED'} |")

m_ours, m_ipx, m_th2 = (get(l, 16, "req_s") for l in ("project-medium-cold", "ipx-medium-cold", "thumbor2-medium-cold"))
l_ours, l_ipx = get("project-large-cold", 16, "req_s"), get("ipx-large-cold", 16, "req_s")
n_ours = get("project-large-cold-no-working-copy", 16, "req_s")
p_ours, p_ipx = get("project-medium-cold", 16, "p99_ms"), get("ipx-medium-cold", 16, "p99_ms")
w_ours, w_ngx = get("project-medium-warmhit", 16, "req_s"), get("nginx-static-project-w200", 16, "req_s")
rss = lambda label: max(v for v in (get(label, 4, "peak_rss_mib"), get(label, 16, "peak_rss_mib"), 0) if v is not None)
r_ours, r_ipx = rss("project-large-cold"), rss("ipx-large-cold")

out.append("| figure | ours | peer | ratio | target | |")
out.append("| --- | --- | --- | --- | --- | --- |")
line("medium, cold, req/s, c=16", fmt(m_ours), fmt(m_ipx), "ipx", ratio(m_ours, m_ipx), ">= 2.0x ipx", m_ours and m_ipx and m_ours >= 2 * m_ipx)
line("medium, cold, req/s, c=16", fmt(m_ours), fmt(m_th2), "thumbor x2", ratio(m_ours, m_th2), ">= 2.0x thumbor (2 procs)", m_ours and m_th2 and m_ours >= 2 * m_th2)
line("large, cold, req/s, c=16", fmt(l_ours), fmt(l_ipx), "ipx", ratio(l_ours, l_ipx), ">= 3.0x ipx", l_ours and l_ipx and l_ours >= 3 * l_ipx)
line("large, cold, no working copy, req/s, c=16", fmt(n_ours), fmt(l_ipx), "ipx", ratio(n_ours, l_ipx), ">= 1.3x ipx", n_ours and l_ipx and n_ours >= 1.3 * l_ipx)
line("p99 ms, medium cold, c=16", fmt(p_ours, " ms"), fmt(p_ipx, " ms"), "ipx", ratio(p_ours, p_ipx), "<= 0.5x ipx", p_ours and p_ipx and p_ours <= 0.5 * p_ipx)
line("warm hits req/s, c=16", fmt(w_ours), fmt(w_ngx), "nginx static, same bytes", ratio(w_ours, w_ngx), ">= 0.8x nginx", w_ours and w_ngx and w_ours >= 0.8 * w_ngx)
line("peak RSS MiB, large cold run", fmt(r_ours), fmt(r_ipx), "ipx", ratio(r_ours, r_ipx), "<= ipx", r_ours <= r_ipx)

pillow = open(sys.argv[2]).read()
m = re.search(r"Pillow medium\.jpg JPEG q80 w200 draft=True: wall [\d.]+ ms/img, cpu ([\d.]+) ms/img", pillow)
pil = float(m.group(1)) if m else None
crit = open(sys.argv[3]).read()
def crit_ms(name):
    m = re.search(re.escape(name) + r"\s*\n?\s*time:\s+\[[\d.]+ \w+ ([\d.]+) (\w+)", crit)
    if not m:
        return None
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "µs" else v
c_ours = crit_ms("render/medium -> w200.jpg (ours)")
line("render CPU per image in process, medium -> w200 JPEG", fmt(c_ours, " ms"), fmt(pil, " ms"), "Pillow draft()", ratio(c_ours, pil), "<= Pillow draft()", c_ours and pil and c_ours <= pil)
ssim = [l for l in open(sys.argv[4]).read().splitlines() if l.startswith("| medium") or l.startswith("| large")]
worst = max(float(l.split("|")[8].split()[0]) for l in ssim) if ssim else None
out.append(f"| output bytes at default quality vs libvips at equal SSIM (worst of medium/large x 200/400 px) | | | {worst:.2f}x | <= 1.0x | {'met' if worst is not None and worst <= 1.0 else 'MISSED'} |")

print("\n".join(out))
print()
print("CPU ms per request (server process, from procstat):")
print("| scenario | c | ours | ipx | thumbor x2 | nginx/libgd |")
print("| --- | --- | --- | --- | --- | --- |")
for scen in ("medium-cold", "large-cold"):
    for c in (4, 16):
        print(f"| {scen} | {c} | {fmt(get('project-' + scen, c, 'cpu_ms_per_req'))} | {fmt(get('ipx-' + scen, c, 'cpu_ms_per_req'))} | {fmt(get('thumbor2-' + scen, c, 'cpu_ms_per_req'))} | {fmt(get('nginx-' + scen, c, 'cpu_ms_per_req'))} |")
print(f"| large-cold, no working copy | 16 | {fmt(get('project-large-cold-no-working-copy', 16, 'cpu_ms_per_req'))} | | | |")
print()
print("In process (criterion medians; Pillow CPU per image from tools/pillow-direct.py, same run):")
for name in ("render/medium -> w200.jpg (ours)", "render/medium -> w200.jpg from the working copy (ours)", "render/large -> w200.jpg from the working copy (ours)", "render/large -> w200.jpg from the original (ours)"):
    print(f"- {name}: {fmt(crit_ms(name), ' ms')}")
for l in pillow.splitlines():
    print(f"- {l}")
print()
print("\n".join(open(sys.argv[4]).read().splitlines()))
