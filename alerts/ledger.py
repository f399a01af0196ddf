"""The alert ledger in Elasticsearch: one document per alert item and one per mail.

Item documents (``kind: item``) are the rules' record: their ``_id`` is the idempotency
key (rule + article, or rule + signal), created with ``op_type=create``, so an article
alerts a rule at most once across runs, restarts and concurrent workers. Mail documents
(``kind: mail``, one recipient each) hold the rendered message and its delivery state
(pending -> sending -> sent | failed; attempts; last_error; Message-ID). Delivery
documents (``kind: delivery``) are the recipients' record: ``_id`` is the key of
(recipient, article or signal), created with ``op_type=create`` before the mail that
carries it is stored, so no two mails ever carry the same article to the same recipient.

A ledger rather than an outbox: mails do wait in it for delivery, but its main job is the
record of what was alerted to whom, which is what keeps every run from alerting twice.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from rasad.alerts.items import AlertItem
from rasad.alerts.plan import EVENT, RESERVATION_STALE, MailPlan, delivery_key, signals_of
from rasad.core.es import single_index
from rasad.core.records import parse_iso, utc_iso
from rasad.core.settings import Settings

ITEM, MAIL, DELIVERY = "item", "mail", "delivery"
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
MAX_HITS = 5000


def ledger_index(settings: Settings) -> str:
    """The concrete ledger index (writes and reads; it is a single index)."""
    return single_index(settings, "alerts")


def item_doc(item: AlertItem, status: str, mode: str, recipients: list[str], now: datetime) -> dict[str, Any]:
    """The ledger document of an alert item."""
    return {
        "id": item.key,
        "rule": item.rule,
        "kind": ITEM,
        "mode": mode,
        "status": status,
        "recipients": recipients,
        "subject": item.title[:500],
        "article_ids": item.own_ids,
        "event_id": item.event_id,
        "signal_id": (item.signal or {}).get("id"),
        "created_at": item.created_at,
        "updated_at": utc_iso(now),
        "payload": {"item": item.to_dict()},
    }


def mail_doc(
    plan: MailPlan, subject: str, message_id: str, raw: str, mail_from: str, now: datetime
) -> dict[str, Any]:
    """The ledger document of a mail, pending delivery."""
    event_ids = (
        [plan.thread.event_id] if plan.thread else sorted({i.event_id for i in plan.items if i.event_id})
    )
    return {
        "id": plan.key,
        "rule": [r.name for r in plan.all_rules],
        "kind": MAIL,
        "mode": plan.mode,
        "status": PENDING,
        "recipients": [plan.to],
        "subject": subject,
        "article_ids": plan.article_ids,
        "event_id": event_ids,
        "signal_id": plan.signal_ids,
        "message_id": message_id,
        "attempts": 0,
        "created_at": utc_iso(now),
        "updated_at": utc_iso(now),
        "next_attempt_at": utc_iso(now),
        "payload": {
            "raw": raw,
            "mail_from": mail_from,
            "items": plan.item_keys or [i.key for i in plan.items],
            "folded": [f.key for fs in plan.folded.values() for f in fs],
            "thread": thread_state(plan),
        },
    }


def thread_state(plan: MailPlan) -> dict[str, Any] | None:
    """What a thread's mail told the recipient about the event (the next mail says what is new since)."""
    if plan.thread is None:
        return None
    sigs = [s for i in plan.items for s in signals_of(i)]
    last = plan.thread.last
    return {
        "event_id": plan.thread.event_id,
        "kinds": sorted({*(last.get("kinds") or []), *(s.get("kind") for s in sigs if s.get("kind"))}),
        "source_count": max(
            [int(s.get("source_count") or 0) for s in sigs] + [int(last.get("source_count") or 0)]
        ),
        "article_count": max(
            [int(s.get("article_count") or 0) for s in sigs] + [int(last.get("article_count") or 0)]
        ),
        "languages": sorted(
            {*(last.get("languages") or []), *(k for s in sigs for k in (s.get("titles") or {}))}
            | {i.language for i in plan.items if i.language}
        ),
    }


def delivery_docs(plan: MailPlan, now: datetime) -> list[dict[str, Any]]:
    """The delivery records of a mail: each article and signal it carries, to its one recipient."""
    docs = []
    for sid in plan.subject_ids:
        is_signal = sid in plan.signal_ids
        docs.append(
            {
                "id": delivery_key(plan.to, sid),
                "kind": DELIVERY,
                "recipients": [plan.to],
                "article_ids": [] if is_signal else [sid],
                "signal_id": [sid] if is_signal else [],
                "created_at": utc_iso(now),
                "updated_at": utc_iso(now),
                "payload": {"mail": plan.key},
            }
        )
    return docs


class AlertLedger:
    """The ledger as the planner sees it (alerts/plan.py ``LedgerView``), plus its writes."""

    def __init__(self, es: Elasticsearch, settings: Settings):
        self.es = es
        self.index = ledger_index(settings)

    def ensure(self) -> None:
        """Create the ledger index if missing (the installed template gives it its mapping)."""
        if not self.es.indices.exists(index=self.index):
            self.es.options(ignore_status=400).indices.create(index=self.index)

    def refresh(self) -> None:
        """Make every write so far visible to searches."""
        with contextlib.suppress(NotFoundError):  # nothing written yet: nothing to show
            self.es.indices.refresh(index=self.index)

    def _search(self, query: dict, size: int = MAX_HITS, **kw: Any) -> list[dict]:
        try:
            res = self.es.search(index=self.index, query=query, size=size, **kw)
        except NotFoundError:
            return []
        return res["hits"]["hits"]

    @staticmethod
    def _items(hits: list[dict]) -> list[AlertItem]:
        return [AlertItem.from_dict(h["_source"]["payload"]["item"]) for h in hits]

    # --- LedgerView ------------------------------------------------------------------------

    def existing_keys(self, keys: list[str]) -> set[str]:
        """Which of these idempotency keys the ledger already holds."""
        if not keys:
            return set()
        try:
            res = self.es.mget(index=self.index, ids=keys, source=False, realtime=True)
        except NotFoundError:
            return set()
        return {d["_id"] for d in res["docs"] if d.get("found")}

    def related_items(self, rule: str, ids: list[str]) -> list[AlertItem]:
        """Items of the rule recorded under any of these article ids (the article or its original)."""
        q = {
            "bool": {
                "filter": [
                    {"term": {"kind": ITEM}},
                    {"term": {"rule": rule}},
                    {"terms": {"article_ids": ids}},
                ]
            }
        }
        return self._items(self._search(q, sort=[{"created_at": "asc"}]))

    def queued_items(self, rule: str) -> list[AlertItem]:
        """Items of the rule waiting for a mail, oldest first."""
        q = {
            "bool": {
                "filter": [{"term": {"kind": ITEM}}, {"term": {"rule": rule}}, {"term": {"status": "queued"}}]
            }
        }
        return self._items(self._search(q, sort=[{"created_at": "asc"}]))

    def folded_items(self, rule: str, keys: list[str], since: str) -> list[AlertItem]:
        """Near-duplicates recorded since ``since`` that folded into one of these items."""
        q = {
            "bool": {
                "filter": [
                    {"term": {"kind": ITEM}},
                    {"term": {"rule": rule}},
                    {"term": {"status": "folded"}},
                    {"range": {"created_at": {"gte": since}}},
                ]
            }
        }
        wanted = set(keys)
        return [i for i in self._items(self._search(q)) if i.folded_into in wanted]

    def mails_to_since(self, recipient: str, since: datetime) -> int:
        """How many mails to the recipient were made since ``since`` (the throttle's count)."""
        q = {
            "bool": {
                "filter": [
                    {"term": {"kind": MAIL}},
                    {"term": {"recipients": recipient}},
                    {"range": {"created_at": {"gte": utc_iso(since)}}},
                ]
            }
        }
        try:
            return int(self.es.count(index=self.index, query=q)["count"])
        except NotFoundError:
            return 0

    def deliveries(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Delivery records by key, each with ``mail_exists`` (its mail is stored) and its seq_no."""
        if not keys:
            return {}
        try:
            res = self.es.mget(index=self.index, ids=keys, realtime=True)
        except NotFoundError:
            return {}
        out = {
            d["_id"]: {**d["_source"], "_seq_no": d["_seq_no"], "_primary_term": d["_primary_term"]}
            for d in res["docs"]
            if d.get("found")
        }
        mails = sorted({m for r in out.values() if (m := (r.get("payload") or {}).get("mail")) is not None})
        stored = self.existing_keys(mails)
        for r in out.values():
            r["mail_exists"] = (r.get("payload") or {}).get("mail") in stored
        return out

    def thread_mails(self, recipient: str, event_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Earlier event-thread mails to the recipient, per event, oldest first."""
        if not event_ids:
            return {}
        q = {
            "bool": {
                "filter": [
                    {"term": {"kind": MAIL}},
                    {"term": {"mode": EVENT}},
                    {"term": {"recipients": recipient}},
                    {"terms": {"event_id": event_ids}},
                ]
            }
        }
        out: dict[str, list[dict[str, Any]]] = {}
        hits = self._search(
            q,
            sort=[{"created_at": "asc"}, {"id": "asc"}],
            source_includes=["id", "subject", "article_ids", "event_id", "created_at", "payload.thread"],
        )
        for h in hits:
            for ev in h["_source"].get("event_id") or []:
                out.setdefault(ev, []).append(h["_source"])
        return out

    # --- writes ----------------------------------------------------------------------------

    def create_many(self, docs: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        """Create documents by id (``op_type=create``); return (created ids, ids that already existed)."""
        if not docs:
            return [], []
        ops: list[dict[str, Any]] = []
        for d in docs:
            ops += [{"create": {"_index": self.index, "_id": d["id"]}}, d]
        res = self.es.bulk(operations=ops)
        created, existed = [], []
        for d, item in zip(docs, res["items"], strict=True):
            r = item["create"]
            if r.get("status") in (200, 201):
                created.append(d["id"])
            elif r.get("status") == 409:
                existed.append(d["id"])
            else:
                raise RuntimeError(f"ledger write failed for {d['id']}: {r.get('error')}")
        return created, existed

    def reserve(self, plan: MailPlan, known: dict[str, dict[str, Any]], now: datetime) -> bool:
        """Record the plan's deliveries before its mail is stored; False (and nothing kept) if another mail has one.

        A record this plan's own key already holds is ours (a crash after reserving: same plan,
        same key). One a dead run left behind without its mail (older than RESERVATION_STALE)
        is taken over with optimistic concurrency, so of two runs only one can win it.
        """
        made: list[str] = []
        docs = delivery_docs(plan, now)
        # The records nobody holds yet (nearly all of them): one bulk of creates, not a request each.
        ok = self._create_deliveries([d for d in docs if known.get(d["id"]) is None], plan.key, made)
        for doc in docs if ok else []:
            rec = known.get(doc["id"])
            if rec is None or (rec.get("payload") or {}).get("mail") == plan.key:
                continue
            created = parse_iso(rec.get("created_at"))
            if rec.get("mail_exists") or created is None or now - created < RESERVATION_STALE:
                ok = False
                break
            try:
                self.es.index(
                    index=self.index,
                    id=doc["id"],
                    document=doc,
                    if_seq_no=rec["_seq_no"],
                    if_primary_term=rec["_primary_term"],
                )
                made.append(doc["id"])
            except ConflictError:
                mine = self.get(doc["id"])
                if not mine or (mine.get("payload") or {}).get("mail") != plan.key:
                    ok = False
                    break
        if not ok:
            for k in made:  # ours, and no mail refers to them: give them back so the item is not stuck
                self.es.options(ignore_status=404).delete(index=self.index, id=k)
        return ok

    def _create_deliveries(self, docs: list[dict[str, Any]], mail_key: str, made: list[str]) -> bool:
        """Create delivery records (``op_type=create``), appending the ids made to ``made``; False if
        another mail holds one. Raises (after giving back what it made) on any other failure."""
        if not docs:
            return True
        ops: list[dict[str, Any]] = []
        for d in docs:
            ops += [{"create": {"_index": self.index, "_id": d["id"]}}, d]
        res = self.es.bulk(operations=ops, refresh=False)
        ok, failed = True, []
        for d, item in zip(docs, res["items"], strict=True):
            r = item["create"]
            if r.get("status") in (200, 201):
                made.append(d["id"])
            elif r.get("status") == 409:  # a record another run made meanwhile: ours only if it names this mail
                mine = self.get(d["id"]) or {}
                ok = ok and (mine.get("payload") or {}).get("mail") == mail_key
            else:
                failed.append((d["id"], r.get("status"), r.get("error")))
        if failed:
            for k in made:
                self.es.options(ignore_status=404).delete(index=self.index, id=k)
            raise RuntimeError(f"delivery records not written ({len(failed)} of {len(docs)}): {failed[:3]}")
        return ok

    def mark_items(self, keys: list[str], status: str, now: datetime, mail_key: str | None = None) -> None:
        """Set the status of items (and the mail they went into)."""
        if not keys:
            return
        ops: list[dict[str, Any]] = []
        for k in keys:
            doc: dict[str, Any] = {"status": status, "updated_at": utc_iso(now)}
            if mail_key:
                doc["payload"] = {"mail": mail_key}
            # Two runs may mark the same item at once: retry the merge instead of failing the run.
            ops += [{"update": {"_index": self.index, "_id": k, "retry_on_conflict": 5}}, {"doc": doc}]
        res = self.es.bulk(operations=ops)
        if res.get("errors"):
            bad = [i["update"] for i in res["items"] if i["update"].get("error")]
            raise RuntimeError(f"ledger update failed: {bad[:3]}")

    @staticmethod
    def due_mails_query(now: datetime, stale_before: datetime) -> dict:
        """Mails to deliver now: pending and due, or stuck in ``sending`` since before ``stale_before``."""
        return {
            "bool": {
                "filter": [{"term": {"kind": MAIL}}],
                "should": [
                    {
                        "bool": {
                            "filter": [
                                {"term": {"status": PENDING}},
                                {"range": {"next_attempt_at": {"lte": utc_iso(now)}}},
                            ]
                        }
                    },
                    {
                        "bool": {
                            "filter": [
                                {"term": {"status": SENDING}},
                                {"range": {"updated_at": {"lt": utc_iso(stale_before)}}},
                            ]
                        }
                    },
                ],
                "minimum_should_match": 1,
            }
        }

    @staticmethod
    def work_query(now: datetime, stale_before: datetime) -> dict:
        """Everything an alert step with no new articles would act on: queued items and due mails."""
        queued = {"bool": {"filter": [{"term": {"kind": ITEM}}, {"term": {"status": "queued"}}]}}
        return {
            "bool": {
                "should": [queued, AlertLedger.due_mails_query(now, stale_before)],
                "minimum_should_match": 1,
            }
        }

    def due_mails(self, now: datetime, stale_before: datetime) -> list[dict]:
        """Mails to deliver now: pending and due, or stuck in ``sending`` since before ``stale_before``."""
        self.refresh()
        return self._search(
            self.due_mails_query(now, stale_before),
            size=500,
            seq_no_primary_term=True,
            sort=[{"created_at": "asc"}, {"id": "asc"}],
        )

    def get(self, key: str) -> dict | None:
        """One ledger document by key, or None."""
        try:
            return self.es.get(index=self.index, id=key)["_source"]
        except NotFoundError:
            return None

    def all_docs(self, kind: str | None = None) -> list[dict]:
        """Every ledger document (of one kind), oldest first: for reports and tests."""
        self.refresh()
        q: dict = {"term": {"kind": kind}} if kind else {"match_all": {}}
        return [h["_source"] for h in self._search(q, sort=[{"created_at": "asc"}, {"id": "asc"}])]
