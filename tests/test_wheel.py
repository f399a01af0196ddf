"""The wheel stands on its own: built from the repo, installed into a fresh venv outside the checkout.

It must run ``rasad tag`` and ``rasad seeds check`` with the taxonomy, entities and defaults it
carries as package data, and import nothing from the checkout. Offline: the build uses the
installed setuptools (no build isolation) and the install takes the pinned requirements from
uv's cache, which ``make setup`` fills (checked with a cache that only `uv pip sync` had filled).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")

pytestmark = [
    pytest.mark.wheel,
    pytest.mark.skipif(UV is None, reason="uv is installed by `make setup`"),
]

ARTICLE = ("روسيا تعترف بحكومة طالبان\n"
           "أعلنت موسكو اعترافها الرسمي بحكومة حركة طالبان في أفغانستان، في خطوة أمنية لمواجهة "
           "تهديد تنظيم داعش خراسان.\n")  # fmt: skip

# Imports the CLI and the stages the way `rasad tag` does, then names every loaded module whose
# file is inside the checkout (there must be none).
AUDIT = """
import sys
import rasad.cli, rasad.core.settings, rasad.enrich.tagging, rasad.ingest.http.client, rasad.pipeline
from rasad.core import shipped
from rasad.enrich.knowledge import DEFAULT_SEEDS_DIR
checkout = sys.argv[1]
print("FROM-CHECKOUT", [m.__name__ for m in list(sys.modules.values())
                        if (getattr(m, "__file__", None) or "").startswith(checkout)])
print("CHECKOUT", shipped.CHECKOUT)
print("FILES", rasad.ingest.__file__, rasad.core.settings.DEFAULTS_FILE, DEFAULT_SEEDS_DIR)
"""


def _source_tree(dest: Path) -> Path:
    """The files a commit would hold (tracked and new, not ignored), copied: no stale build/ in the wheel."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=PROJECT, capture_output=True, check=True).stdout  # fmt: skip
    for rel in filter(None, listed.decode().split("\0")):
        src = PROJECT / rel
        if src.is_file():  # a file deleted in the work tree is still listed by --cached
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{cmd[:3]} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(venv, a working folder outside the checkout, the environment to run in)."""
    tmp = tmp_path_factory.mktemp("wheel")
    assert not tmp.resolve().is_relative_to(PROJECT), "the venv must live outside the checkout"
    assert UV is not None
    # Nothing from this process may leak into the venv's: no editable install, no PYTHONPATH.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RASAD_", "PYTHON", "VIRTUAL_ENV", "AIRFLOW", "UV_PYTHON"))}  # fmt: skip
    env["UV_OFFLINE"] = "1"
    src = _source_tree(tmp / "src")
    _run([UV, "build", "--wheel", "--no-build-isolation", "--python", sys.executable,
          "--out-dir", str(tmp / "dist"), str(src)], tmp, env)  # fmt: skip
    wheel = next((tmp / "dist").glob("rasad-*.whl"))
    venv = tmp / "venv"
    _run([UV, "venv", "--python", sys.executable, str(venv)], tmp, env)
    # The pinned set as `make setup` installs it (a resolve would need index pages that `make setup`
    # leaves out of uv's cache: offline it must not resolve), then the wheel, then proof that the
    # wheel's own declared dependencies are all met by it.
    python = str(venv / "bin" / "python")
    _run([UV, "pip", "sync", "--python", python, str(PROJECT / "requirements.txt")], tmp, env)
    _run([UV, "pip", "install", "--python", python, "--no-deps", str(wheel)], tmp, env)
    _run([UV, "pip", "check", "--python", python], tmp, env)
    work = tmp / "work"
    work.mkdir()
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp / "home")  # nothing read from the user's ~/.config or caches of a checkout
    return venv, work, env


def test_nothing_is_imported_from_the_checkout(installed):
    venv, work, env = installed
    out = _run([str(venv / "bin" / "python"), "-c", AUDIT, str(PROJECT)], work, env).stdout
    assert "FROM-CHECKOUT []" in out, out
    assert "CHECKOUT None" in out, out
    files = out.split("FILES ", 1)[1].split()
    assert all(Path(f).is_relative_to(venv) for f in files), files


def test_rasad_tag_uses_the_shipped_taxonomy_and_entities(installed):
    venv, work, env = installed
    (work / "article.txt").write_text(ARTICLE, encoding="utf-8")
    out = _run([str(venv / "bin" / "rasad"), "tag", "--title-line", "article.txt"], work, env).stdout
    result = json.loads(out)
    names = {e["name"] for e in result["entities"]}
    topics = {t["id"] for t in result["topics"]}
    assert {"Taliban", "Russia", "Islamic State Khorasan Province"} <= names, names
    assert "diplomacy.recognition" in topics, topics
    assert result["language"] == "ar"


def test_rasad_seeds_check_passes_on_the_shipped_seeds(installed):
    venv, work, env = installed
    out = _run([str(venv / "bin" / "rasad"), "seeds", "check"], work, env).stdout
    assert "data ok: " in out and "PROBLEM" not in out, out
    assert "hand-checked seed mentions found (100.0%)" in out, out
