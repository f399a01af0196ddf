"""The deterministic fuzz slice that runs with the suite, and the replay of every regression input.

Fixed seed, fixed input counts: the same inputs on every run, so a failure here is reproduced with
``bench/fuzz_run.py --target T --seed 2026 --inputs N`` (the index is in the message). The long
runs (100,000 inputs per target) are ``bench/fuzz_run.py``; docs/reliability.md has their figures.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fuzz.engine import MEMORY_LIMIT_MB, fuzz, fuzz_pool, input_rng, run_one
from tests.fuzz.targets import load_target

SEED = 2026
REGRESSIONS = Path(__file__).resolve().parents[1] / "resources" / "fuzz"
# A few thousand inputs per target (issue 14). The costly targets (page ~43 ms, text ~40 ms, mail ~28 ms
# of CPU per input, docs/reliability.md) run in one spawned process per core, so the slice costs about
# 3 minutes of wall time on 2 cores; the cheap ones run here, with the targets set up once.
SLICE = {"feed": 3000, "yaml": 3000, "mail": 3000, "text": 3000, "page": 3000}
POOLED = {"mail", "text", "page"}
SEARCH_SLICE = 3000
_TARGETS: dict[str, object] = {}


def _target(name: str):
    t = _TARGETS.get(name)
    if t is None:
        t = _TARGETS[name] = load_target(name)
        t.setup()
    return t


def _assert_clean(stats) -> None:
    problems = [f"index {f.index}: {f.kind}: {f.message.splitlines()[0][:300]}" for f in stats.findings
                if f.kind != "contained"]
    assert stats.crashes == 0 and stats.over_time == 0, "\n".join(problems)
    assert stats.input_peak_mb <= MEMORY_LIMIT_MB and not stats.over_memory, \
        f"input {stats.input_peak_index} took {stats.input_peak_mb:.0f} MB"
    # over a slice of 3,000 what the worker keeps between inputs stays under the same figure
    assert stats.growth_mb <= MEMORY_LIMIT_MB, f"peak RSS grew {stats.growth_mb:.0f} MB over the baseline"


class _Ready:
    """A target whose setup already ran (fuzz() calls setup() again otherwise)."""

    def __init__(self, target):
        self.t = target

    def __getattr__(self, name):
        return getattr(self.t, name)

    def setup(self) -> None:
        pass

    def teardown(self) -> None:
        pass


@pytest.mark.parametrize("name", sorted(SLICE))
def test_fuzz_slice(name):
    if name in POOLED:
        stats = fuzz_pool(name, SEED, SLICE[name], workers=min(2, os.cpu_count() or 1))
    else:
        stats = fuzz(_Ready(_target(name)), SEED, range(SLICE[name]))
    assert stats.inputs == SLICE[name]
    _assert_clean(stats)


def test_fuzz_slice_search(es, settings):
    """Queries against the session's real node; then the search regression inputs."""
    from tests.fuzz.target_search import SearchTarget

    target = SearchTarget(es=es, settings=settings)
    stats = fuzz(target, SEED, range(SEARCH_SLICE))
    assert stats.inputs == SEARCH_SLICE
    _assert_clean(stats)
    for path in sorted((REGRESSIONS / "search").glob("*.json")):
        kind, message, _, _ = run_one(target, target.decode(path.read_bytes()))
        assert kind is None, f"{path.name}: {message}"


@pytest.mark.parametrize("path", sorted(p for p in REGRESSIONS.rglob("*") if p.is_file() and p.suffix != ".md"
                                         and p.parent.name != "search"),
                         ids=lambda p: f"{p.parent.name}/{p.name}")  # fmt: skip
def test_regression_input(path):
    target = _target(path.parent.name)
    kind, message, _cpu, _ = run_one(target, target.decode(path.read_bytes()))
    assert kind is None, message


def test_a_failing_property_is_reported_with_its_index():
    """The harness itself: a target that breaks its property on some inputs is caught, not passed."""
    from tests.fuzz.engine import PropertyFailure, Target

    class Odd(Target):
        name = "odd"

        def generate(self, rng):
            return rng.randrange(10)

        def check(self, value):
            if value == 3:
                raise PropertyFailure("three")
            if value == 7:
                raise KeyError("seven")

    stats = fuzz(Odd(), SEED, range(200))
    kinds = {f.kind for f in stats.findings}
    assert stats.crashes == len(stats.findings) > 0 and kinds == {"property", "crash"}


def test_a_worker_spawned_by_a_large_process_reports_its_own_memory():
    """The suite's process is large; its spawned fuzz workers must not count its pages as theirs."""
    ballast = bytearray(600 * 2**20)
    for i in range(0, len(ballast), 4096):  # touch every page: resident, not just reserved
        ballast[i] = 1
    stats = fuzz_pool("yaml", SEED, 20, workers=2)
    assert stats.inputs == 20
    assert stats.peak_rss_mb < 400, f"a yaml worker's peak RSS is {stats.peak_rss_mb:.0f} MB: the parent's"
    assert stats.growth_mb <= MEMORY_LIMIT_MB
    del ballast


def test_an_input_that_takes_too_much_memory_is_a_finding_and_what_earlier_ones_kept_is_not():
    from tests.fuzz.engine import Target, reset_peak_rss

    if not reset_peak_rss():
        pytest.skip("this kernel does not let a process reset its peak-RSS mark")
    kept = []

    class Hungry(Target):
        name = "hungry"

        def generate(self, rng):
            return rng.randrange(10)

        def check(self, value):
            if value == 5:  # one input that holds 300 MB at its peak (every page touched)
                b = bytearray(300 * 2**20)
                for i in range(0, len(b), 4096):
                    b[i] = 1
            else:  # the others keep 2 MB each between inputs: the worker grows, no input is large
                kept.append(bytes(2 * 2**20))

    stats = fuzz(Hungry(), SEED, range(150))
    memory = [f for f in stats.findings if f.kind == "memory"]
    fives = [i for i in range(150) if input_rng(SEED, i).randrange(10) == 5]
    assert {f.index for f in memory} == set(fives) and stats.over_memory == len(fives)
    assert MEMORY_LIMIT_MB < stats.input_peak_mb < 320
    assert stats.growth_mb > 200  # the per-process figure still shows what the worker holds
