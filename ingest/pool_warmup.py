"""Imported once by the extraction pool's fork server: load and warm what a worker needs.

Every worker is forked from the fork server, so what is built here (trafilatura, lxml, the
lingua language models, ~200 MB and seconds of CPU) is built once per pool owner and shared
copy-on-write by the workers, instead of once per worker (and again for each replacement
after ``MAX_TASKS_PER_CHILD`` pages). Importing it anywhere else is harmless but pointless.
"""

from __future__ import annotations

import rasad.ingest.extract.article  # noqa: F401 -- the job itself and trafilatura with it
from rasad.ingest.language import detect_language

# lingua builds its models on first use: use each once.
detect_language("موسكو وطالبان تبحثان التعاون الأمني في كابول")
detect_language("Moscow and the Taliban discuss security cooperation in Kabul")
