"""Where the data Rasad ships lives: the checkout's top-level folders, or their copies inside an installed wheel."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the ``rasad`` package folder
_REPO = PACKAGE_DIR.parent
# A checkout (an editable install included) reads the repo's own folders, so an edit to seeds/ or
# config/ takes effect at once; a wheel carries copies of them inside the package instead.
CHECKOUT: Path | None = _REPO if (_REPO / "pyproject.toml").is_file() and (_REPO / "seeds").is_dir() else None

# Folder in the repo -> folder inside the installed package. pyproject.toml ([tool.setuptools]
# package-dir and package-data) puts them there; tests/test_wheel.py checks they arrive.
SHIPPED_FOLDERS = {
    "config": "config",
    "seeds": "seeds",
    "examples/demo": "demo_data",  # not "demo": rasad/demo.py is a module
    "dags": "dags",
    "kibana": "kibana",
}


def _shipped_part(path: Path) -> Path | None:
    """The place of a repo-relative path inside the installed package, if it is shipped data."""
    text = path.as_posix()
    for repo, inside in SHIPPED_FOLDERS.items():
        if text == repo or text.startswith(repo + "/"):
            return PACKAGE_DIR / inside / text[len(repo):].lstrip("/")
    return None


def shipped(repo_path: str) -> Path:
    """A shipped file or folder named by its path in the repo (``seeds``, ``examples/demo/site``)."""
    if CHECKOUT is not None:
        return CHECKOUT / repo_path
    found = _shipped_part(Path(repo_path))
    if found is None:
        raise KeyError(f"{repo_path!r} is not shipped with the package (see SHIPPED_FOLDERS)")
    return found


def resolve(value: str | os.PathLike[str]) -> Path:
    """A configured path: relative ones under the checkout; installed, shipped data or else the current folder."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return p
    if CHECKOUT is not None:
        return CHECKOUT / p
    # Installed: the defaults name shipped data (seeds, the demo's feeds and rules) by their repo
    # paths, and everything else (var/, a user's own files) lives where Rasad is run from.
    return _shipped_part(p) or Path.cwd() / p
