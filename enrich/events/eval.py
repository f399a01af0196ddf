"""``rasad events eval DATASET``: run the clusterer on the MStream Google News stream.

The stream (Yin et al., KDD 2018) is 11,109 stemmed, stop-worded Google News titles in
152 gold stories, with no timestamps, bodies, sources or tags. So the clusterer sees
titles only, in file order, with no look-ahead, and with synthetic times spread evenly
over one day (the titles were collected on a single day, Yin & Wang 2014): time
therefore plays the part the batch order plays in the paper and nothing more. The
configuration is the shipped default (:class:`ClusterConfig`), the same for both orders.

Each title is scored with the event that holds it at the end of the stream: its own event,
or the one that event was merged into later (what the events index and the dashboard show,
following ``merged_into``). The events as first assigned are counted too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rasad.enrich.events.cluster import ClusterConfig, ClusterItem, EventClusterer
from rasad.enrich.events.metrics import score_bcubed, score_nmi, score_pairwise

ORDERS = ("News", "News-T")
# Table 2 of Yin et al., "Model-based Clustering of Short Text Streams" (KDD 2018): NMI.
PAPER_NMI = {
    "MStream": {"News": 0.834, "News-T": 0.850},
    "MStreamF": {"News": 0.797, "News-T": 0.873},
    "DTM": {"News": 0.793, "News-T": 0.806},
}
STREAM_START = datetime(2013, 11, 27, tzinfo=timezone.utc)
STREAM_SPAN = timedelta(days=1)


def load_stream(path: Path) -> list[dict[str, Any]]:
    """Read one MStream JSON-lines file ({"Id", "clusterNo", "textCleaned"} per line)."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def resolve_stream(dataset: Path, order: str) -> Path:
    """Find the file of one order given a file, its folder, or the corpus folder above it."""
    if dataset.is_file():
        return dataset
    for folder in (dataset, dataset / "googlenews-mstream"):
        for name in (f"{order}.jsonl", order):
            if (folder / name).is_file():
                return folder / name
    raise FileNotFoundError(f"no {order}.jsonl under {dataset}")


def cluster_stream(rows: list[dict[str, Any]], config: ClusterConfig | None = None) -> list[str]:
    """Cluster the titles in order (synthetic times over one day); return each one's final event id."""
    return [final for final, _ in _cluster_stream(rows, config)]


def stream_items(rows: list[dict[str, Any]]) -> list[ClusterItem]:
    """The titles as clusterer items, with synthetic times spread evenly over one day."""
    step = STREAM_SPAN / max(1, len(rows))
    return [
        ClusterItem(id=str(row["Id"]), time=STREAM_START + i * step, title=row["textCleaned"], language="en")
        for i, row in enumerate(rows)
    ]


def _cluster_stream(rows: list[dict[str, Any]], config: ClusterConfig | None) -> list[tuple[str, str]]:
    """(final event id, event id when assigned) of each title, in order."""
    clusterer = EventClusterer(config)
    labels = [clusterer.assign(item).event_id for item in stream_items(rows)]
    return [(clusterer.resolve_event(label), label) for label in labels]


def _cluster_stream_stored(
    rows: list[dict[str, Any]], config: ClusterConfig | None, new_store: Callable[[], Any], batch: int
) -> list[tuple[str, str]]:
    """As ``_cluster_stream``, but in batches, each with a fresh store that loads only what the batch
    needs from Elasticsearch and saves what it changed (what a batch task of the service does)."""
    items = stream_items(rows)
    labels = []
    for start in range(0, len(items), batch):
        store = new_store()
        chunk = items[start : start + batch]
        clusterer = store.load_for(chunk, config)
        labels += [clusterer.assign(item).event_id for item in chunk]
        store.save(clusterer, "2013-11-28T00:00:00Z")
    final = new_store().load_for([], config)  # the shared part holds the merge links
    return [(final.resolve_event(label), label) for label in labels]


def evaluate_stream(
    rows: list[dict[str, Any]],
    config: ClusterConfig | None = None,
    new_store: Callable[[], Any] | None = None,
    batch: int = 500,
) -> dict[str, Any]:
    """Cluster one stream (in memory, or through ``new_store()`` stores batch by batch) and score it."""
    gold = [row["clusterNo"] for row in rows]
    started = time.perf_counter()
    if new_store is None:
        labels = _cluster_stream(rows, config)
    else:
        labels = _cluster_stream_stored(rows, config, new_store, batch)
    elapsed = time.perf_counter() - started
    pred = [final for final, _ in labels]
    pairwise = score_pairwise(gold, pred)
    bcubed = score_bcubed(gold, pred)
    return {
        "articles": len(rows),
        "gold_stories": len(set(gold)),
        "predicted_events": len(set(pred)),
        "events_per_gold_story": len(set(pred)) / len(set(gold)),
        "events_as_assigned": len({assigned for _, assigned in labels}),
        "nmi": score_nmi(gold, pred),
        "nmi_arithmetic": score_nmi(gold, pred, "arithmetic"),
        "pairwise": {"precision": pairwise.precision, "recall": pairwise.recall, "f1": pairwise.f1},
        "bcubed": {"precision": bcubed.precision, "recall": bcubed.recall, "f1": bcubed.f1},
        "seconds": elapsed,
    }


def evaluate_stored(rows: list[dict[str, Any]], batch: int, settings: Any = None) -> dict[str, Any]:
    """``evaluate_stream`` through the Elasticsearch event store, under a throwaway index prefix."""
    import uuid  # noqa: PLC0415

    from rasad.core.es import make_client  # noqa: PLC0415
    from rasad.core.settings import load_settings  # noqa: PLC0415
    from rasad.enrich.event_store import EventStateStore  # noqa: PLC0415

    base = settings or load_settings()
    s = base.replace(index_prefix=f"{base.index_prefix}-eval{uuid.uuid4().hex[:8]}")
    es = make_client(s, request_timeout=120)
    try:
        result = evaluate_stream(rows, new_store=lambda: EventStateStore(es, s), batch=batch)
    finally:
        es.indices.delete(index=f"{s.index_prefix}-*", ignore_unavailable=True, allow_no_indices=True)
    return {**result, "store_batch": batch}


def format_report(order: str, result: dict[str, Any]) -> str:
    """The human-readable table of one order, ours next to the paper's."""
    pw, b3 = result["pairwise"], result["bcubed"]
    lines = [
        (f"Google News stream, order {order}: {result['articles']:,} titles, "
         f"{result['gold_stories']} gold stories; {result['predicted_events']} events predicted "
         f"in {result['seconds']:.1f} s ({result['articles'] / result['seconds']:,.0f} articles/s)"),
        (f"  events / gold stories: {result['events_per_gold_story']:.2f} "
         f"({result['events_as_assigned']} events as first assigned, before merges)"),
        (f"  {'method':<28}{'NMI':>7}{'NMI(arith)':>12}{'pair P':>9}{'pair R':>9}{'pair F1':>9}"
         f"{'B3 P':>8}{'B3 R':>8}{'B3 F1':>8}"),
        (f"  {'rasad single-pass':<28}{result['nmi']:>7.3f}{result['nmi_arithmetic']:>12.3f}"
         f"{pw['precision']:>9.3f}{pw['recall']:>9.3f}{pw['f1']:>9.3f}"
         f"{b3['precision']:>8.3f}{b3['recall']:>8.3f}{b3['f1']:>8.3f}"),
    ]
    for method, scores in PAPER_NMI.items():
        dashes = "".join(f"{'-':>{w}}" for w in (12, 9, 9, 9, 8, 8, 8))
        lines.append(f"  {method + ' (KDD 2018, Tab. 2)':<28}{scores[order]:>7.3f}{dashes}")
    verdict = "beats" if result["nmi"] > PAPER_NMI["MStream"][order] else "does NOT beat"
    lines.append(f"  -> single-pass NMI {verdict} MStream ({PAPER_NMI['MStream'][order]:.3f})")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``rasad events eval DATASET [--order News|News-T] [--json]``."""
    parser = argparse.ArgumentParser(prog="rasad events eval", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="MStream folder, its parent, or one JSON-lines file")
    parser.add_argument("--order", choices=ORDERS, action="append", help="stream order (default: both)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--store-batch", type=int, metavar="N",
                        help="run through the Elasticsearch event store (RASAD_ES_URL) in batches of N, "
                             "each loading only what it needs, as the service does")  # fmt: skip
    args = parser.parse_args(argv)
    orders = args.order or list(ORDERS)
    results = {}
    try:
        rows_by_order = {order: load_stream(resolve_stream(args.dataset, order)) for order in orders}
    except (FileNotFoundError, json.JSONDecodeError, KeyError) as exc:
        print(f"rasad events eval: cannot read {args.dataset}: {exc}", file=sys.stderr)
        return 2
    for order, rows in rows_by_order.items():
        if args.store_batch:
            results[order] = evaluate_stored(rows, args.store_batch)
        else:
            results[order] = evaluate_stream(rows)
    if args.json:
        payload = {order: {**r, "paper_nmi": {m: s[order] for m, s in PAPER_NMI.items()}} for order, r in results.items()}
        print(json.dumps(payload, indent=2))
    else:
        print("\n\n".join(format_report(order, r) for order, r in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
