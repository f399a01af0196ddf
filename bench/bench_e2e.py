"""End-to-end throughput against the extraction floor, in one run (issue 13, bar 1).

A loopback farm of 50 feeds (10 virtual hosts) serves real pages: SaudiNewsNet articles in
three real Arabic page layouts (one ~516 KB) and real English pages, all read from
``../shared/corpus`` at run time (tests/service/farm.py, ``CorpusFarm``). For each size
(default 500, 2,000 and 8,000 articles: 10, 40 and 160 items a feed) a fresh process runs
the real ``rasad run`` path (``run_cycle``: poll -> queue -> claim -> fetch, extract, dedup,
tag, cluster, index -> alerts) against an Elasticsearch node of its own and a real SMTP
sink, with every setting at its default (so extraction runs in ``extract_workers: auto``
warm processes). Next to it, in the same run and on the pages the farm served, bare
``trafilatura.extract``: in one process (on a random sample), and in a process pool of one
worker per core on every page of the reference cycle (the layouts differ in cost up to 20x,
so a sample or a stride would bias the floor), measured just before and just after the
2,000-article cycle (the machine is shared: the mean of the two is the floor), each once the
Elasticsearch node has gone quiet (a JVM compiles on in the background after a cycle, and a
floor measured meanwhile would come out low). Untimed warm-up cycles (``--warmup``, 2,000
articles each on feeds of their own) run first: a service's Elasticsearch node is warm, a fresh
one is not for minutes. On this 2-core machine its JIT compiler threads took 48.6 ms of CPU per
article in a first 200-article cycle, then 21.8 ms per article in a 2,000-article cycle after
it; after a 2,000-article warm-up 12.4 ms, and 7.5 ms after 4,000 (its own work: 10-15 ms). So
the warm-ups go on (at most ``--warmup-cycles``, 4) until the JIT's CPU per article is under
2 ms or falls by less than a quarter from one warm-up to the next. The JIT's share is printed
for every cycle, warm-ups included.

Printed: articles/s end to end per size and the ratio to the pooled floor (bar >= 0.8 at
2,000), seconds per article at 8,000 against 500 (bar <= 1.2x), peak RSS of every process
of ours per size (flat in the batch count), the machine's CPU per article during each cycle
(ours, Elasticsearch's and its JIT's, the farm's), Elasticsearch's own time per index (indexing,
search, refresh, merge, flush), and os.getloadavg() before and after.

``--compare-overlap`` runs the reference size a second time with ``overlap_batches: true`` (the
same feeds and pages, under an index prefix of its own), so the overlap's gain or cost is
measured within one run.

    .venv/bin/python bench/bench_e2e.py [--sizes 500,2000,8000] [--floor-pages 0] [--warmup 2000]
                                        [--warmup-cycles 4] [--compare-overlap]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FEEDS = 50
HOSTS = 10
RULES_E2E = """version: 1
rules:
  - name: story
    keywords:
      any: ["طالبان", "Taliban", "داعش", "ISIS"]
    recipients: ["analyst@example.org"]
    mode: immediate
"""


def _vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set size of a live process, from /proc (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _busy_cpu_s() -> float:
    """Core-seconds the whole machine has spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a live process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _es_stats(es_url: str, prefix: str) -> dict:
    """Elasticsearch's own time ledger: per index kind of this cycle's prefix (articles, events, queue, ...)
    indexing, search (query + fetch), refresh, merge and flush milliseconds, and the node's GC milliseconds."""
    import urllib.request

    def get(path: str) -> dict:
        with urllib.request.urlopen(f"{es_url}{path}", timeout=30) as r:  # noqa: S310 (loopback node)
            return json.load(r)

    out: dict = {}
    for name, st in get(f"/{prefix}-*/_stats/indexing,search,refresh,merge,flush").get("indices", {}).items():
        kind = name[len(prefix) + 1:].split("-", 1)[0]
        t = st["total"]
        row = out.setdefault(kind, dict.fromkeys(("docs", "index", "search", "queries", "refresh", "merge", "flush"), 0))
        row["docs"] += t["indexing"]["index_total"]
        row["index"] += t["indexing"]["index_time_in_millis"]
        row["search"] += t["search"]["query_time_in_millis"] + t["search"]["fetch_time_in_millis"]
        row["queries"] += t["search"]["query_total"]
        row["refresh"] += t["refresh"]["total_time_in_millis"]
        row["merge"] += t["merges"]["total_time_in_millis"]
        row["flush"] += t["flush"]["total_time_in_millis"]
    jvm = next(iter(get("/_nodes/_local/stats/jvm")["nodes"].values()))["jvm"]
    out["_gc_ms"] = sum(c["collection_time_in_millis"] for c in jvm["gc"]["collectors"].values())
    return out


def _jit_cpu_s(pid: int) -> float:
    """CPU seconds a live JVM's JIT compiler threads (C1, C2) have used: a fresh node's warm-up, not its work."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        if stat[stat.index("(") + 1:].startswith(("C1 CompilerThre", "C2 CompilerThre")):
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _settle(pid: int, limit_s: float = 120.0) -> float:
    """Wait (up to ``limit_s``) until a process uses < 5 % of a core over 2 s; return the seconds waited.

    A JVM goes on compiling in the background after a cycle: the floor measured meanwhile would
    share the cores with it and come out low, which would flatter the ratio."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        before = _proc_cpu_s(pid)
        time.sleep(2.0)
        if _proc_cpu_s(pid) - before < 0.1:
            break
    return time.monotonic() - t0


def _self_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def child(feeds_file: str, rules_file: str) -> None:
    """One full cycle in this fresh process, as ``rasad run`` does; prints a RESULT json line."""
    import logging

    from rasad.core.settings import load_settings
    from rasad.ingest import extract_pool
    from rasad.pipeline import run_cycle

    # Each batch logs its stage timings (fetch/tag/cluster+index/ack): kept in the cycle's log.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    s = load_settings()
    t0 = time.monotonic()
    profile_to = os.environ.get("RASAD_BENCH_PROFILE")  # cProfile of this process's main thread, for looking into
    trace_to = os.environ.get("RASAD_BENCH_TRACEMALLOC")  # what this process still holds at the end, by line
    if trace_to:
        import tracemalloc

        tracemalloc.start(int(os.environ.get("RASAD_BENCH_TRACEMALLOC_FRAMES", "1")))
        summary = run_cycle(s, feeds_file, rules_file)
        snap = tracemalloc.take_snapshot()
        current, peak = tracemalloc.get_traced_memory()
        lines = [f"traced now {current / 2**20:.1f} MB, peak {peak / 2**20:.1f} MB, VmHWM {_vm_hwm_mb(os.getpid()):.0f} MB"]
        for st in snap.statistics("traceback")[:15]:
            lines += [f"--- {st.size / 2**20:.1f} MB in {st.count} blocks", *st.traceback.format()[-12:]]
        lines += ["--- by line", *(str(st) for st in snap.statistics("lineno")[:40])]
        Path(trace_to).write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif profile_to:
        import cProfile

        prof = cProfile.Profile()
        summary = prof.runcall(run_cycle, s, feeds_file, rules_file)
        prof.dump_stats(profile_to)
    else:
        summary = run_cycle(s, feeds_file, rules_file)
    secs = time.monotonic() - t0
    pools = list(extract_pool._shared.values())
    workers = {pid: _vm_hwm_mb(pid) for p in pools for pid in p.pids()}
    fs = getattr(getattr(__import__("multiprocessing.forkserver").forkserver, "_forkserver", None),
                 "_forkserver_pid", None)  # fmt: skip
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "seconds": secs, "items": summary.items_queued, "new": summary.new_articles, "indexed": summary.indexed,
        "duplicates": summary.duplicates, "near_duplicates": summary.near_duplicates, "failures": summary.failures,
        "tagged": summary.tagged, "events_new": summary.events_new, "mails": summary.alerts_sent,
        "matched": summary.alerts_matched, "batches": summary.batches,
        # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork + exec, so a child of a parent
        # holding the floor's pages (~430 MB at 2,000) would report the parent's size.
        "main_rss_mb": _vm_hwm_mb(os.getpid()), "main_cpu_s": ru.ru_utime + ru.ru_stime,
        "worker_rss_mb": sorted(v for v in workers.values() if v), "forkserver_rss_mb": _vm_hwm_mb(fs) if fs else None,
        "pool_restarts": sum(p.restarts for p in pools), "errors": summary.errors[:5],
    }  # fmt: skip
    print("RESULT " + json.dumps(out), flush=True)


def _bare(page: tuple[bytes, str]) -> int:
    import trafilatura

    for name in ("prune_selectors", "readability_gate"):  # the floor is trafilatura as shipped
        ours = sys.modules.get(f"rasad.ingest.extract.{name}")
        if ours is not None and ours.installed():
            raise RuntimeError(f"the floor process has Rasad's {name} installed")
    return len(trafilatura.extract(page[0], url=page[1]) or "")


def floor_serial_ours(pages: list[tuple[bytes, str]]) -> float:
    """Pages/s of trafilatura.extract with Rasad's prune selectors (the same output), in this process."""
    import trafilatura

    from rasad.ingest.extract import prune_selectors

    prune_selectors.install()
    try:
        trafilatura.extract(pages[0][0], url=pages[0][1])
        t0 = time.monotonic()
        for body, url in pages:
            trafilatura.extract(body, url=url)
        return len(pages) / (time.monotonic() - t0)
    finally:
        prune_selectors.uninstall()


def _node_is_warm(jit_ms: list[float]) -> bool:
    """Whether the warm-ups so far leave the node near its steady state (JIT CPU ms an article, per cycle).

    A service's node compiled its hot paths long ago; a fresh one compiles for several thousand
    articles (12.4 ms an article after 2,000, 7.5 after 4,000 on this machine). Warm-ups go on
    until the JIT's share is small or stops falling by a quarter a cycle (a slow machine's JIT
    never reaches the small figure), so the measured cycle is not charged for start-up.
    """
    if not jit_ms:
        return False
    return jit_ms[-1] < 2.0 or (len(jit_ms) > 1 and jit_ms[-1] > 0.75 * jit_ms[-2])


def _warm_bare() -> None:
    import trafilatura  # noqa: F401


def floor_serial(pages: list[tuple[bytes, str]]) -> float:
    """Pages/s of bare trafilatura.extract in this process."""
    _bare(pages[0])  # imports outside the clock
    t0 = time.monotonic()
    for p in pages:
        _bare(p)
    return len(pages) / (time.monotonic() - t0)


def floor_pool(pages: list[tuple[bytes, str]], workers: int) -> float:
    """Pages/s of bare trafilatura.extract in a pool of ``workers`` warm processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"),
                             initializer=_warm_bare) as pool:  # fmt: skip
        list(pool.map(_bare, pages[:workers]))  # every worker started and warm
        t0 = time.monotonic()
        list(pool.map(_bare, pages, chunksize=4))
        return len(pages) / (time.monotonic() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="500,2000,8000", help="articles per cycle (multiples of 50)")
    ap.add_argument("--floor-pages", type=int, default=0,
                    help="pages of the reference cycle the pooled floor is measured on: 0 = all of them (default), "
                         "else a random sample (the farm's layouts differ in cost up to 20x, so a stride is biased)")
    ap.add_argument("--serial-pages", type=int, default=300,
                    help="random sample of the same pages for the one-process figure (printed for reference)")
    ap.add_argument("--warmup", type=int, default=2000,
                    help="articles of each untimed warm-up cycle, on feeds of its own: a service's Elasticsearch "
                         "node is warm, a fresh one spends minutes compiling (its JIT threads' CPU is printed per "
                         "cycle)")  # fmt: skip
    ap.add_argument("--warmup-cycles", type=int, default=4,
                    help="at most this many warm-up cycles: they stop once the JIT's CPU per article stops "
                         "falling by a quarter from one to the next, or is under 2 ms")  # fmt: skip
    ap.add_argument("--compare-overlap", action="store_true",
                    help="also run the reference size with overlap_batches: true (same feeds, same pages)")
    ap.add_argument("--overlap-first", action="store_true",
                    help="with --compare-overlap: run the overlapped cycle before the one in turn")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0

    from tests.conftest import free_port, own_es_node
    from tests.service.farm import CorpusFarm, TimingSink

    sizes = [int(x) for x in args.sizes.split(",")]
    ref = 2000 if 2000 in sizes else sizes[len(sizes) // 2]
    cores = os.cpu_count() or 1
    load_start = os.getloadavg()
    print(f"machine: {cores} cpus, load {load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f} at start",
          flush=True)  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="rasad-e2e-"))
    # One farm: each size has its own 50 feeds (ids offset), so no cycle sees another's items.
    warmups = args.warmup_cycles if args.warmup else 0
    cycles = sizes + [args.warmup] * warmups  # the warm-ups' feeds come after the sizes'
    farm = CorpusFarm(feeds=FEEDS * len(cycles), hosts=HOSTS, port=free_port())
    now = time.time() - 120
    for k, size in enumerate(cycles):
        for n in range(size):
            farm.add_item(k * FEEDS + n % FEEDS, now)
    print(f"farm: {len(farm.arabic)} SaudiNewsNet articles, layouts "
          f"{', '.join(f'{lay.name} ({len(lay.template) // 1024} KB)' for lay in farm.layouts)}, "
          f"{len(farm.english)} English pages", flush=True)  # fmt: skip
    (tmp / "rules.yaml").write_text(RULES_E2E, encoding="utf-8")
    sink = TimingSink(free_port())
    results: dict[str, dict] = {}  # "500", "2000", "2000overlap"
    floors: dict[str, float] = {}
    with own_es_node("bench-e2e") as (_base, es_url, _port, es_home), farm, sink:
        es_pid = int((Path(es_home) / "run" / "es.pid").read_text().strip())
        ref_k = sizes.index(ref)
        ref_items = [i for i in farm.items if i.feed // FEEDS == ref_k]
        rnd = random.Random(13)
        if args.floor_pages and args.floor_pages < len(ref_items):
            ref_items = rnd.sample(ref_items, args.floor_pages)
        floor_pages = [(farm.page(i), farm.page_url(i)) for i in ref_items]
        kb = sum(len(b) for b, _ in floor_pages) / len(floor_pages) / 1024
        print(f"floor pages: {len(floor_pages)} of the {ref}-article cycle's {ref} pages, mean {kb:.0f} KB",
              flush=True)  # fmt: skip
        serial_sample = rnd.sample(floor_pages, min(args.serial_pages, len(floor_pages)))
        floors["serial"] = floor_serial(serial_sample)
        # For the reader, not the bar: how much of the margin is trafilatura made faster, not overhead cut.
        floors["serial_selectors"] = floor_serial_ours(serial_sample)
        waited = _settle(es_pid)
        es0 = _proc_cpu_s(es_pid)
        floors["pool_before"] = floor_pool(floor_pages, cores)
        print(f"bare trafilatura.extract: 1 process {floors['serial']:.1f} pages/s (sample), "
              f"pool of {cores} {floors['pool_before']:.1f} pages/s (load {os.getloadavg()[0]:.2f}; after "
              f"{waited:.0f} s for Elasticsearch to go quiet, which then used {_proc_cpu_s(es_pid) - es0:.1f} s "
              f"of CPU)", flush=True)  # fmt: skip
        # (label, size): the warm-up, the reference size, its overlapped twin, then the other sizes.
        # The warm-ups' feed blocks follow the sizes': block k = len(sizes) + i for warm-up i.
        order = [("warmup", args.warmup, len(sizes) + i) for i in range(warmups)] + [("", ref, sizes.index(ref))]
        order += [("overlap", ref, sizes.index(ref))] if args.compare_overlap else []
        if args.compare_overlap and args.overlap_first:  # the second cycle meets a warmer node
            order[-2], order[-1] = order[-1], order[-2]
        last_ref = [lab for lab, x, _ in order if x == ref and lab != "warmup"][-1]  # the floor is re-measured after it
        order += [("", x, sizes.index(x)) for x in sizes if x != ref]
        jit_per_article: list[float] = []  # of each warm-up cycle run
        for label, size, k in order:
            warmup = label == "warmup"
            if warmup and _node_is_warm(jit_per_article):
                continue
            path = tmp / f"feeds-{size}{label}{k}.yaml"  # the twin polls the same feeds, under a prefix of its own
            lines = ["feeds:"]
            for f in range(k * FEEDS, (k + 1) * FEEDS):
                lines += [f"  - id: farm-{f}", f"    url: {farm.feed_url(f)}", f"    name: Farm {f}",
                          f"    language: {farm.feed_lang(f)}", "    poll_interval: 1h"]  # fmt: skip
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            prefix = f"e2e{uuid.uuid4().hex[:8]}"
            env = {**os.environ, "RASAD_ES_URL": es_url, "RASAD_INDEX_PREFIX": prefix,
                   "RASAD_SMTP_HOST": "127.0.0.1", "RASAD_SMTP_PORT": str(sink.port),
                   "RASAD_ALLOW_PRIVATE_NETWORKS": "1", "RASAD_RESPECT_ROBOTS": "0", "RASAD_VAR_DIR": str(tmp / "var")}
            if label == "overlap":
                env["RASAD_OVERLAP_BATCHES"] = "1"
            mails0 = len(sink.received)
            es_hwm0 = _vm_hwm_mb(es_pid)
            load0 = os.getloadavg()[0]
            gc0 = _es_stats(es_url, prefix)["_gc_ms"]
            cpu0 = (_busy_cpu_s(), _proc_cpu_s(es_pid), _self_cpu_s())
            jit0 = _jit_cpu_s(es_pid)
            proc = subprocess.run([sys.executable, __file__, "--child", str(path), str(tmp / "rules.yaml")], env=env,
                                  capture_output=True, text=True, cwd=ROOT, check=False)  # fmt: skip
            log_path = Path(tempfile.gettempdir()) / f"bench-e2e-{f'warmup{k - len(sizes)}' if warmup else label or size}.log"
            log_path.write_text(proc.stderr, encoding="utf-8")
            line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
            if proc.returncode or not line:
                print(f"cycle of {size} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}", flush=True)
                return 2
            cpu1 = (_busy_cpu_s(), _proc_cpu_s(es_pid), _self_cpu_s())
            jit = _jit_cpu_s(es_pid) - jit0
            r = json.loads(line[7:])
            es_ledger = _es_stats(es_url, prefix)
            es_ledger["_gc_ms"] -= gc0
            r.update(size=size, rate=r["items"] / r["seconds"], sink_mails=len(sink.received) - mails0,
                     es_rss_mb=_vm_hwm_mb(es_pid), es_rss_before_mb=es_hwm0, load=(load0, os.getloadavg()[0]))
            # Where the machine's CPU went during the cycle, per article: Elasticsearch, the farm (this
            # process serving the feeds and pages), and the rest: ours (main, extraction workers), plus
            # whatever else ran on the machine meanwhile.
            busy, es_cpu, farm_cpu = (b - a for a, b in zip(cpu0, cpu1, strict=True))
            r["cpu_ms"] = {k: 1000 * v / r["items"] for k, v in
                           (("ours", busy - es_cpu - farm_cpu), ("es", es_cpu), ("farm", farm_cpu),
                            ("main", r["main_cpu_s"]), ("es_jit", jit))}  # fmt: skip
            if warmup:
                jit_per_article.append(r["cpu_ms"]["es_jit"])
            else:
                results[f"{size}{label}"] = r
            name = {"warmup": "warm-up cycle (not counted)", "overlap": "cycle with overlap_batches: true"}
            print(f"{name.get(label, 'cycle')} {size}: {r['items']} items in {r['seconds']:.1f} s = {r['rate']:.1f} articles/s; "
                  f"{r['indexed']} indexed ({r['new']} new, {r['near_duplicates']} near-dup, {r['duplicates']} dup), "
                  f"failures {r['failures']}, {r['tagged']} tagged, {r['events_new']} new events, "
                  f"{r['matched']} matches, {r['sink_mails']} mails; load {load0:.2f} -> {os.getloadavg()[0]:.2f} "
                  f"(log: {log_path})",
                  flush=True)  # fmt: skip
            c = r["cpu_ms"]
            print(f"  CPU per article: ours {c['ours']:.1f} ms (main process {c['main']:.1f}), Elasticsearch "
                  f"{c['es']:.1f} ms (of which its JIT compiler threads {c['es_jit']:.1f}), farm {c['farm']:.1f} ms; pooled floor {1000 * cores / floors['pool_before']:.1f} ms "
                  f"(cores / pages per second)", flush=True)  # fmt: skip
            # Elasticsearch's own ledger (wall ms on its threads, which overlap; not CPU) per article, by index.
            kinds = sorted((k for k in es_ledger if not k.startswith("_")), key=lambda k: -sum(
                v for f, v in es_ledger[k].items() if f not in ("docs", "queries")))  # fmt: skip
            print("  Elasticsearch ms per article by index (index/search/refresh/merge/flush; docs, queries): "
                  + "; ".join(f"{k} " + "/".join(f"{es_ledger[k][f] / r['items']:.1f}" for f in
                                                 ("index", "search", "refresh", "merge", "flush"))
                              + f" ({es_ledger[k]['docs']}, {es_ledger[k]['queries']})" for k in kinds)
                  + f"; GC {es_ledger['_gc_ms'] / r['items']:.1f}", flush=True)  # fmt: skip
            if size == ref and label == last_ref:
                waited = _settle(es_pid)
                es0 = _proc_cpu_s(es_pid)
                floors["pool_after"] = floor_pool(floor_pages, cores)
                print(f"bare trafilatura.extract, pool of {cores}, after: {floors['pool_after']:.1f} pages/s "
                      f"(after {waited:.0f} s for Elasticsearch to go quiet, which then used "
                      f"{_proc_cpu_s(es_pid) - es0:.1f} s of CPU)", flush=True)  # fmt: skip
    shutil.rmtree(tmp, ignore_errors=True)
    load_end = os.getloadavg()
    floor = (floors["pool_before"] + floors["pool_after"]) / 2
    print()
    print(f"machine: {cores} cpus; load {load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f} at start, "
          f"{load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f} at end")  # fmt: skip
    print(f"{'articles':>14} {'seconds':>8} {'art/s':>6} {'s/article':>9} {'main RSS':>9} {'workers RSS':>14} "
          f"{'forksrv':>8} {'ES RSS':>7} {'CPU ms/article ours/main/ES':>28} {'load':>11}")  # fmt: skip
    keys = [str(x) for x in sizes] + ([f"{ref}overlap"] if args.compare_overlap else [])
    for key in keys:
        r = results[key]
        w = "/".join(f"{x:.0f}" for x in r["worker_rss_mb"]) or "-"
        fsrv = f"{r['forkserver_rss_mb']:.0f}" if r["forkserver_rss_mb"] else "-"
        c = r["cpu_ms"]
        cpu = f"{c['ours']:.0f}/{c['main']:.0f}/{c['es']:.0f}"
        print(f"{key.replace('overlap', ' overlapped'):>14} {r['seconds']:>8.1f} {r['rate']:>6.1f} "
              f"{r['seconds'] / r['items']:>9.4f} {r['main_rss_mb']:>7.0f}MB {w:>12}MB {fsrv:>6}MB "
              f"{r['es_rss_mb']:>5.0f}MB {cpu:>28} {r['load'][0]:>5.1f}-{r['load'][1]:<5.1f}")  # fmt: skip
    print(f"bare trafilatura.extract on {len(floor_pages)} of the same pages: 1 process {floors['serial']:.1f} p/s "
          f"(on {min(args.serial_pages, len(floor_pages))} of them); "
          f"pool of {cores}: {floors['pool_before']:.1f} before, {floors['pool_after']:.1f} after, mean {floor:.1f} p/s")
    print(f"trafilatura.extract with Rasad's prune selectors (same output; not the floor): 1 process "
          f"{floors['serial_selectors']:.1f} p/s on the same sample, {floors['serial_selectors'] / floors['serial']:.2f}x bare")
    print(f"pooled floor in CPU: {1000 * cores / floor:.1f} ms a page ({cores} cores / {floor:.1f} pages/s)")
    ratio = results[str(ref)]["rate"] / floor
    ok1 = ratio >= 0.8
    print(f"end to end at {ref}: {results[str(ref)]['rate']:.1f} articles/s = {ratio:.2f}x the pooled floor "
          f"(bar >= 0.8): {'PASS' if ok1 else 'FAIL'}")  # fmt: skip
    if args.compare_overlap:
        ov = results[f"{ref}overlap"]
        print(f"  with overlap_batches: true: {ov['rate']:.1f} articles/s = {ov['rate'] / floor:.2f}x")
    ok2 = ok3 = True
    if "500" in results and "8000" in results:
        a, b = results["500"], results["8000"]
        cost = (b["seconds"] / b["items"]) / (a["seconds"] / a["items"])
        ok2 = cost <= 1.2
        print(f"cost per article at 8000 / at 500: {cost:.2f} (bar <= 1.2): {'PASS' if ok2 else 'FAIL'}")
        growth = {k: (b[k] / a[k]) for k in ("main_rss_mb",)}
        wa, wb = max(a["worker_rss_mb"] or [0]), max(b["worker_rss_mb"] or [0])
        ok3 = growth["main_rss_mb"] <= 1.2 and (not wa or wb / wa <= 1.2)
        print(f"peak RSS at 8000 / at 500: main {growth['main_rss_mb']:.2f}, largest worker "
              f"{(wb / wa if wa else float('nan')):.2f} (flat: <= 1.2): {'PASS' if ok3 else 'FAIL'}")  # fmt: skip
    return 0 if ok1 and ok2 and ok3 else 1


if __name__ == "__main__":
    sys.exit(main())
