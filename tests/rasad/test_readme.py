"""The README's commands for after `make demo` run as written (against the test node, not :9200).

The CLI never falls back to a default cluster, so a block that calls ``rasad`` before it says
where the cluster is would fail for every reader who copies it.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from rasad.indexing.setup import setup_indices
from tests.conftest import PROJECT

RASAD = str(Path(sys.executable).with_name("rasad"))


def _after_demo_block() -> list[str]:
    text = (PROJECT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"^Afterwards:\n\n```sh\n(.*?)^```", text, flags=re.M | re.S)
    assert m, "README.md lost its 'Afterwards:' block after `make demo`"
    return [line.split("#", 1)[0].strip() for line in m.group(1).splitlines() if line.split("#", 1)[0].strip()]


def test_the_after_demo_block_sets_the_cluster_before_any_rasad_command():
    lines = _after_demo_block()
    first_rasad = next(i for i, line in enumerate(lines) if line.startswith(".venv/bin/rasad"))
    exports = [i for i, line in enumerate(lines) if line.startswith("export RASAD_ES_URL=")]
    assert exports and exports[0] < first_rasad, lines


def test_the_after_demo_rasad_commands_run_with_only_what_the_block_exports(settings, es):
    setup_indices(es, settings)  # what the demo leaves behind: the indices the commands read
    env = {k: v for k, v in os.environ.items() if k != "RASAD_ES_URL"}
    ran = 0
    for line in _after_demo_block():
        if line.startswith("export RASAD_ES_URL="):
            # The block's own URL is the demo node; the test points the same line at its node.
            env["RASAD_ES_URL"] = settings.es_url
            continue
        if not line.startswith(".venv/bin/rasad") or line.split()[1:3] == ["es", "stop"]:
            continue  # curl/ls lines need the demo's data; `es stop` would stop a node
        argv = [RASAD, *shlex.split(line)[1:]]
        r = subprocess.run(argv, check=False, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{line!r} failed: {r.stderr[-500:]}"
        ran += 1
    assert ran >= 2
