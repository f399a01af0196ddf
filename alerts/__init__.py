"""Alerting: tagged articles and event signals -> mails analysts keep reading.

The data's path through the package:

- ``rules.py``    the YAML rules and their validation (``load_rules``, ``validate_rules``)
- ``match.py``    which articles and signals a rule matches, and where (tagger offsets)
- ``items.py``    ``AlertItem``: the snapshot of one match that a mail shows
- ``plan.py``     dedup, folding, snooze, throttle, digests, one inbox per recipient, event threads (pure)
- ``render.py``   the multipart text/HTML mail (Arabic right-to-left, injection-safe)
- ``ledger.py``   the Elasticsearch ledger (items, per-recipient deliveries, mails; idempotency keys)
- ``smtp.py``     SMTP sessions (STARTTLS/SSL/auth; settings or an Airflow connection)
- ``deliver.py``  ``send_alerts``: the pipeline's alert step; ``deliver_pending``
- ``preview.py``, ``cli_alerts.py``  ``rasad alerts check`` and ``rasad alerts preview``

docs/alerts.md is the reference for rule authors and states the delivery guarantees.
"""
