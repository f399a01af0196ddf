"""CLI handlers: ``rasad tag``, ``rasad seeds check`` and ``rasad seeds suggest``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rasad.enrich.knowledge import load_knowledge_with_problems


def _read_input(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    return Path(path).read_text(encoding="utf-8")


def format_tag_result(language: str, entities: list[Any], topics: list[Any]) -> dict[str, Any]:
    """The JSON shape printed by ``rasad tag``."""
    return {
        "language": language,
        "entities": [
            {
                "id": e.id, "type": e.type, "name": e.name, "name_ar": e.name_ar,
                "mentions": [{"field": m.field, "start": m.start, "end": m.end, "text": m.text} for m in e.mentions],
            }
            for e in entities
        ],
        "topics": [
            {
                "id": t.id, "label": t.label, "label_ar": t.label_ar, "score": t.score,
                "evidence": [dataclasses.asdict(m) for m in t.evidence],
            }
            for t in topics
        ],
    }


def run_tag(args: argparse.Namespace) -> int:
    """Tag a text file (first line = title when --title-line) and print the JSON result."""
    from rasad.enrich.tagging import get_tagger, guess_language

    raw = _read_input(args.file)
    title, text = "", raw
    if args.title_line:
        title, _, text = raw.partition("\n")
    lang = args.lang if args.lang in ("ar", "en") else guess_language(raw)
    tagger = get_tagger(args.seeds)
    entities, topics = tagger.tag(title, text, lang)
    result = format_tag_result(lang, entities, topics)
    result["tagger_version"] = tagger.version
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


def run_seeds_check(args: argparse.Namespace) -> int:
    """Validate the seeds data and report seed-mention coverage; non-zero exit on any problem."""
    _, problems = load_knowledge_with_problems(args.seeds)
    for p in problems:
        print(f"PROBLEM {p}")
    if problems:
        print(f"{len(problems)} problem(s) in the seeds data")
        return 1
    from rasad.enrich.tagger_coverage import check_coverage
    from rasad.enrich.tagging import get_tagger

    tagger = get_tagger(args.seeds)
    k = tagger.knowledge
    n_alias = sum(len(e.aliases) for e in k.entities.values())
    print(f"data ok: {len(k.entities)} entities, {n_alias} alias spellings, {len(k.topics)} topics "
          f"(tagger {tagger.version})")
    report = check_coverage(tagger)
    for line in report.misses:
        print(f"MISS {line}")
    for line in report.false_tags:
        print(f"FALSE {line}")
    for line in report.exceptions:
        print(f"EXCEPTION {line}")
    print(f"coverage: {report.found}/{report.expected} hand-checked seed mentions found "
          f"({100 * report.share:.1f}%), {len(report.exceptions)} listed exception(s), "
          f"{len(report.false_tags)} wrongly tagged negative(s)")
    return 0 if not report.misses and not report.false_tags else 1


def iter_corpus(path: str, limit: int | None = None) -> Iterator[tuple[str, str]]:
    """(title, text) pairs from a directory of .txt files, a .jsonl/.json file or a zip of JSON arrays."""
    p = Path(path)
    files = sorted(p.rglob("*")) if p.is_dir() else [p]
    n = 0
    for f in files:
        items: list[dict[str, Any]] = []
        if f.suffix == ".txt":
            title, _, text = f.read_text(encoding="utf-8").partition("\n")
            items = [{"title": title, "text": text}]
        elif f.suffix == ".jsonl":
            items = [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
        elif f.suffix == ".json":
            data = json.loads(f.read_text(encoding="utf-8"))
            items = data if isinstance(data, list) else [data]
        elif f.suffix == ".zip":
            with zipfile.ZipFile(f) as zf:
                for name in zf.namelist():
                    if name.endswith(".json"):
                        data = json.loads(zf.read(name))
                        items.extend(data if isinstance(data, list) else [data])
        for it in items:
            yield str(it.get("title") or ""), str(it.get("text") or it.get("content") or "")
            n += 1
            if limit is not None and n >= limit:
                return


def run_seeds_suggest(args: argparse.Namespace) -> int:
    """Print candidate new aliases and entities mined from a corpus."""
    from rasad.enrich.suggest import suggest_candidates
    from rasad.enrich.tagging import get_tagger

    tagger = get_tagger(args.seeds)
    suggestions = suggest_candidates(tagger, iter_corpus(args.corpus, args.limit), top=args.top)
    for s in suggestions:
        print(f"{s.kind}\t{s.count}\t{s.text}\t{s.detail}")
    if not suggestions:
        print("no candidates (is the corpus related to the story?)")
    return 0


def add_tag_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``rasad tag FILE|- [--lang ar|en|auto]``."""
    p = subparsers.add_parser("tag", help="tag a text with entities and topics, print JSON")
    p.add_argument("file", help="text file, or - for stdin")
    p.add_argument("--lang", choices=["ar", "en", "auto"], default="auto")
    p.add_argument("--title-line", action="store_true", help="the first line is the title")
    p.add_argument("--seeds", default=None, help="seeds directory (default: the project's seeds/)")
    p.set_defaults(func=run_tag)
    return p


def add_seeds_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``rasad seeds check`` and ``rasad seeds suggest CORPUS``."""
    p = subparsers.add_parser("seeds", help="validate or grow the seed entities and taxonomy")
    sub = p.add_subparsers(dest="seeds_command", required=True)
    c = sub.add_parser("check", help="validate the data and report seed-mention coverage")
    c.add_argument("--seeds", default=None)
    c.set_defaults(func=run_seeds_check)
    s = sub.add_parser("suggest", help="mine candidate aliases/entities from a corpus for review")
    s.add_argument("corpus", help="directory of .txt, a .jsonl/.json file, or a zip of JSON arrays")
    s.add_argument("--limit", type=int, default=5000)
    s.add_argument("--top", type=int, default=40)
    s.add_argument("--seeds", default=None)
    s.set_defaults(func=run_seeds_suggest)
    return p


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m rasad.enrich.cli_tag``) until the rasad CLI wires these in."""
    parser = argparse.ArgumentParser(prog="rasad")
    subs = parser.add_subparsers(dest="command", required=True)
    add_tag_parser(subs)
    add_seeds_parser(subs)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
