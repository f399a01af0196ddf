"""Run mypy on the packages as they are installed (``rasad.ingest`` ...), and report repo paths.

The stage folders sit at the top of the repo and are installed under ``rasad.`` by
setuptools' package-dir; mypy cannot follow that mapping (nor the editable install's import
hook), so this builds a view of the installed layout out of symlinks under var/typecheck/
and checks it. The view links folders, not files, so a new module is checked without a
rebuild. Settings are in pyproject.toml ([tool.mypy]). Usage: ``python scripts/typecheck.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIEW = ROOT / "var" / "typecheck"
OTHER_TARGETS = ["dags"]  # checked as plain files: Airflow loads them by path


def build_view() -> dict[str, Path]:
    """Symlink the installed layout under VIEW; returns view folder -> repo folder for the report."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapped = config["tool"]["setuptools"]["package-dir"]
    # Only code: data folders mapped in for the wheel (seeds, config, ...) have no __init__.py.
    stages = {name: ROOT / folder for name, folder in mapped.items() if (ROOT / folder / "__init__.py").is_file()}
    pkg = VIEW / "rasad"
    pkg.mkdir(parents=True, exist_ok=True)
    wanted = {child.name: child for child in (ROOT / "rasad").iterdir() if child.name != "__pycache__"}
    wanted |= {name.split(".", 1)[1]: folder for name, folder in stages.items()}
    for entry in pkg.iterdir():  # drop links to what no longer exists
        if entry.name not in wanted or os.readlink(entry) != str(wanted[entry.name]):
            entry.unlink()
    for name, target in wanted.items():
        if not (pkg / name).is_symlink():
            (pkg / name).symlink_to(target)
    return {f"{pkg / name.split('.', 1)[1]}/": folder for name, folder in stages.items()} | {f"{pkg}/": ROOT / "rasad"}


def main() -> int:
    """Type-check; print mypy's report with repo paths; exit with mypy's status."""
    back = build_view()
    mypy = Path(sys.executable).with_name("mypy")
    cmd = [str(mypy), "--config-file", str(ROOT / "pyproject.toml"), str(VIEW / "rasad"), *OTHER_TARGETS]
    env = {**os.environ, "MYPYPATH": str(VIEW)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    prefixes = sorted(back, key=len, reverse=True)  # rasad/ingest/ before rasad/
    forms = [(form, back[p]) for p in prefixes for form in (p, os.path.relpath(p, ROOT) + "/")]
    for line in (proc.stdout + proc.stderr).splitlines():
        found = next(((form, repo) for form, repo in forms if line.startswith(form)), None)
        print(line if found is None else os.path.relpath(found[1], ROOT) + "/" + line[len(found[0]):])
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
