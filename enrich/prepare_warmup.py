"""Imported once by the extraction pool's fork server when its job prepares articles (enrich.prepare).

The job tags each article, so the shipped seeds' tagger and both spaCy pipelines (~1.4 s and
~66 MB here) are built in the fork server, once, and every worker forks with them, instead of
each worker (and each replacement after ``MAX_TASKS_PER_CHILD`` pages) building its own. Other
seeds directories build on a worker's first page.
"""

from __future__ import annotations

from rasad.enrich.knowledge import DEFAULT_SEEDS_DIR
from rasad.enrich.prepare import prepare_article

_SEEDS = str(DEFAULT_SEEDS_DIR.resolve())
prepare_article("موسكو وطالبان", "تبحثان التعاون الأمني في كابول", "ar", _SEEDS)
prepare_article("Moscow and the Taliban", "discuss security cooperation in Kabul", "en", _SEEDS)
