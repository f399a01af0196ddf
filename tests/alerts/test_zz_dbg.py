from collections import Counter
from tests.alerts.test_cli import _preview, _sent
def test_dbg(demo_env, es, mail_sink):
    from rasad.pipeline import step_alert, step_enrich, step_fetch, step_index, step_poll, step_setup
    s, rules = demo_env
    step_setup(s)
    enriched = step_enrich(step_fetch(step_poll(s), s), s)
    step_index(enriched, s)
    es.indices.refresh(index=s.index("articles"))
    before = _preview(rules)
    print("PREVIEW", Counter(m["rule"] for m in before["mails"]), before["matched"], [(w["rule"], len(w["items"]), w["why"]) for w in before["waiting"]])
    rep = step_alert(enriched, s)
    print("REPORT", rep)
    sent = _sent(mail_sink)
    print("SENT", Counter(m["subject"].split(":")[0] for m in sent))
    pv = {m["message_id"] for m in before["mails"]}
    for m in sent:
        if m["message_id"] not in pv: print("extra", m["subject"][:100])
