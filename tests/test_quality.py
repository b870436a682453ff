"""Quality without gold (issue 28): audit picks are never demonstrations; cross-validation never
retrieves from its own fold; `quality` on a hand-made run gives the exact F1 and stores it;
intervals shrink with more sentences; calibration is monotone and stored; `review` orders by the
calibrated risk and its corrections supersede the LLM's mentions in bi.current_mentions while
history stays; `evaluate` refuses a run without gold; `quality` refuses a dataset with nothing
annotated."""

from __future__ import annotations

import json

import numpy as np
import pytest

from allabel.predict import DemoPool
from allabel.quality import calibration as cal
from allabel.quality.data import Sample
from allabel.quality.scoring import score
from allabel.select.audit import audit_sentence_ids
from allabel.store import db, runs

# a hand-made corpus: the unlabelled split has gold too (the oracle annotates audits from it),
# but quality reads only human annotations
SENTENCES = [
    ("Aspirin causes ulcers .", [(0, 7, "Chemical"), (15, 21, "Disease")]),
    ("Cisplatin nephrotoxicity was seen .", [(0, 9, "Chemical"), (10, 24, "Disease")]),
    ("No effect of caffeine .", [(13, 21, "Chemical")]),
    ("Patients had fever and rash .", [(13, 18, "Disease"), (23, 27, "Disease")]),
    ("Lithium was stopped .", [(0, 7, "Chemical")]),
    ("The study ended .", []),
]
# the hand-made run's answers: (sentence index, start, end, label, confidence)
ANSWERS = [
    (0, 0, 7, "Chemical", 0.95),    # right
    (0, 15, 21, "Chemical", 0.40),  # wrong label (partial: no, other label)
    (1, 0, 9, "Chemical", 0.90),    # right
    (1, 10, 20, "Disease", 0.55),   # wrong span, overlaps (partial hit)
    (2, 13, 21, "Chemical", 0.85),  # right
    (3, 13, 18, "Disease", 0.80),   # right; "rash" missed
    (5, 4, 9, "Disease", 0.30),     # spurious
]                                   # sentence 4 (Lithium) missed


def _jsonl(path, rows):
    path.write_text("".join(json.dumps({"text": t, "entities": [
        {"start": s, "end": e, "label": lab, "text": t[s:e]} for s, e, lab in ents]}) + "\n"
        for t, ents in rows))
    return path


@pytest.fixture()
def handmade(db_url, conn, cli, tmp_path):
    """Dataset hm: train (the same sentences, as annotated demonstrations' source) and unlabelled;
    an oracle audit of all 6 unlabelled sentences; a prediction run with ANSWERS."""
    assert cli("ingest", _jsonl(tmp_path / "unlabelled.jsonl", SENTENCES), "--dataset", "hm",
               "--split", "unlabelled", "--format", "jsonl")[0] == 0
    code, out, err = cli("select", "--dataset", "hm", "--strategy", "audit", "--budget", "6", "--oracle",
                         "--pool-splits", "unlabelled")
    assert code == 0, err
    ds = db.dataset_id(conn, "hm")
    ids = [r["id"] for r in db.rows(conn, "SELECT id FROM sentences WHERE dataset_id = %(d)s ORDER BY position",
                                    {"d": ds})]
    run = runs.open_run(conn, "prediction", ds, {"dataset_id": ds, "split": "unlabelled", "demos": "split:x",
                                                 "k": 4, "backend": "hand", "model": "hand", "prompt": "hand"}).id
    for i, sid in enumerate(ids):
        n = sum(1 for a in ANSWERS if a[0] == i)
        pid = db.scalar(conn, "INSERT INTO predictions (run_id, sentence_id, status, parse_status, perplexity, "
                              "n_entities) VALUES (%(r)s, %(s)s, 'done', 'ok', %(p)s, %(n)s) RETURNING id",
                        {"r": run, "s": sid, "p": 1.0 + i / 10, "n": n})
        for _, s, e, lab, c in (a for a in ANSWERS if a[0] == i):
            conn.execute("INSERT INTO entities (sentence_id, start_char, end_char, label, text, source, run_id, "
                         "prediction_id, model, confidence) VALUES (%(s)s, %(a)s, %(b)s, %(l)s, %(t)s, 'llm', "
                         "%(r)s, %(p)s, 'hand', %(c)s)",
                         {"s": sid, "a": s, "b": e, "l": lab, "t": SENTENCES[i][0][s:e], "r": run, "p": pid, "c": c})
    conn.execute("UPDATE runs SET status = 'done', finished_at = now() WHERE id = %(r)s", {"r": run})
    conn.commit()
    return {"run": run, "ids": ids, "dataset_id": ds}


def test_quality_on_a_handmade_run_is_exact_and_stored(conn, cli, handmade):
    code, out, err = cli("quality", "--dataset", "hm", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["run_id"] == handmade["run"] and rep["llm_calls"] == 0
    audit = next(e for e in rep["estimates"] if e["source"] == "audit")
    assert [e["source"] for e in rep["estimates"]] == ["audit"]  # nothing else annotated: no CV
    assert audit["sentences"] == 6 and audit["gold_mentions"] == 8 and audit["predicted_mentions"] == 7
    row = {(r["label"], r["metric"]): r for r in audit["rows"]}
    # strict: 4 right of 7 predicted, 4 of 8 gold found -> P 4/7, R 1/2, F1 = 8/15
    assert row["*", "precision"]["value"] == pytest.approx(4 / 7)
    assert row["*", "recall"]["value"] == pytest.approx(0.5)
    assert row["*", "f1"]["value"] == pytest.approx(8 / 15)
    # partial: + the overlapping Disease span -> 5/7 predicted, 5/8 gold
    assert row["*", "partial_precision"]["value"] == pytest.approx(5 / 7)
    assert row["*", "partial_recall"]["value"] == pytest.approx(5 / 8)
    # Chemical: 3 right of 4 predicted, 3 of 4 gold
    assert row["Chemical", "f1"]["value"] == pytest.approx(0.75)
    assert row["*", "f1"]["low"] <= 8 / 15 <= row["*", "f1"]["high"]
    assert any("too wide" in n for n in audit["notes"])  # 8 gold mentions < 30
    stored = {(r["estimate_source"], r["label"], r["metric"]): r["value"] for r in db.rows(
        conn, "SELECT * FROM bi.quality WHERE run = %(r)s", {"r": handmade["run"]})}
    assert stored["audit", "*", "f1"] == pytest.approx(8 / 15)
    assert ("audit", "*", "auroc") in stored and ("audit", "*", "ece_calibrated") in stored
    comment = db.scalar(conn, "SELECT obj_description('bi.quality'::regclass)")
    assert comment and "never mixed" in comment


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_is_monotone_and_stored(conn, cli, handmade, method):
    code, _, err = cli("quality", "--dataset", "hm", "--calibration", method)
    assert code == 0, err
    rows = db.rows(conn, "SELECT m.confidence, m.calibrated_confidence FROM bi.latest_llm_mentions m "
                         "WHERE m.run = %(r)s ORDER BY m.confidence", {"r": handmade["run"]})
    assert len(rows) == len(ANSWERS) and all(r["calibrated_confidence"] is not None for r in rows)
    probs = [r["calibrated_confidence"] for r in rows]
    assert all(a <= b + 1e-12 for a, b in zip(probs, probs[1:], strict=False))
    assert db.scalar(conn, "SELECT method FROM calibrations WHERE run_id = %(r)s", {"r": handmade["run"]}) == method


def test_calibration_functions():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0, 1, 400)
    correct = rng.uniform(0, 1, 400) < conf ** 2  # over-confident: truly right with prob conf^2
    for method in cal.METHODS:
        c = cal.fit(conf, correct, method)
        grid = np.linspace(0, 1, 101)
        assert np.all(np.diff(c(grid)) >= -1e-12)  # monotone
        assert cal.ece(c(conf), correct) < cal.ece(conf, correct)  # it corrects over-confidence
    assert cal.auroc(conf, correct) > 0.7
    assert cal.auroc(conf, np.ones(400, bool)) is None
    # confidence that means the opposite: Platt falls back to the share correct (no usable signal)
    flat = cal.fit(conf, conf < 0.5, "platt")
    assert flat.params["a"] == 0.0 and np.ptp(flat(np.linspace(0.01, 0.99, 9))) == 0


def test_intervals_shrink_with_more_sentences():
    def sample(copies: int) -> Sample:
        truth, ments, sents = [], [], []
        for c in range(copies):
            for i, (_, ents) in enumerate(SENTENCES):
                sid = 100 * c + i
                sents.append(sid)
                truth += [{"sentence_id": sid, "start_char": s, "end_char": e, "label": lab} for s, e, lab in ents]
            ments += [{"sentence_id": 100 * c + a[0], "start_char": a[1], "end_char": a[2], "label": a[3],
                       "entity_id": 1000 * c + j, "confidence": a[4]} for j, a in enumerate(ANSWERS)]
        return Sample(sents, truth, ments, ["Chemical", "Disease"])

    small, large = (score(sample(n), "audit", resamples=2000).get("f1") for n in (2, 16))
    assert small.value == pytest.approx(large.value) == pytest.approx(8 / 15)
    assert (large.high - large.low) < 0.6 * (small.high - small.low)


def test_review_orders_by_calibrated_risk_and_corrections_supersede(conn, cli, handmade, tmp_path):
    run = handmade["run"]
    assert cli("quality", "--dataset", "hm")[0] == 0
    # the audit took every sentence: review has none left; a second run over new sentences
    code, _, err = cli("review", "--predictions", run, "--budget", "2")
    assert code == 3 and "no finished sentence left" in err
    extra = [("Ibuprofen helps .", [(0, 9, "Chemical")]), ("Heparin and warfarin .", [(0, 7, "Chemical")])]
    assert cli("ingest", _jsonl(tmp_path / "more.jsonl", extra), "--dataset", "hm", "--split", "more",
               "--format", "jsonl")[0] == 0
    more = [r["id"] for r in db.rows(conn, "SELECT id FROM sentences WHERE split = 'more' ORDER BY position", {})]
    for sid, (text, _), (s, e, c) in zip(more, extra, [(0, 9, 0.95), (12, 20, 0.30)], strict=True):
        pid = db.scalar(conn, "INSERT INTO predictions (run_id, sentence_id, status, parse_status, n_entities) "
                              "VALUES (%(r)s, %(s)s, 'done', 'ok', 1) RETURNING id", {"r": run, "s": sid})
        conn.execute("INSERT INTO entities (sentence_id, start_char, end_char, label, text, source, run_id, "
                     "prediction_id, model, confidence) VALUES (%(s)s, %(a)s, %(b)s, 'Chemical', %(t)s, 'llm', "
                     "%(r)s, %(p)s, 'hand', %(c)s)", {"s": sid, "a": s, "b": e, "t": text[s:e], "r": run,
                                                       "p": pid, "c": c})
    conn.commit()
    assert cli("quality", "--dataset", "hm", "--predictions", run)[0] == 0  # calibrates the new mentions
    out = tmp_path / "review.jsonl"
    code, _, err = cli("review", "--predictions", run, "--budget", "2", "--format", "jsonl", "--out", out)
    assert code == 0, err
    picked = [json.loads(line) for line in out.read_text().splitlines()]
    # the low-confidence "warfarin" sentence first, though it comes second in the corpus
    assert [p["sentence_id"] for p in picked] == [more[1], more[0]]
    assert picked[0]["entities"][0]["text"] == "warfarin" and picked[0]["entities_source"] == "llm"
    review_run = picked[0]["run_id"]
    # a person corrects the first: warfarin was right, Heparin was missed
    fixed = {"sentence_id": more[1], "annotator": "ann@example.org", "entities": [
        {"start": 0, "end": 7, "label": "Chemical", "text": "Heparin"},
        {"start": 12, "end": 20, "label": "Chemical", "text": "warfarin"}]}
    (tmp_path / "fixed.jsonl").write_text(json.dumps(fixed) + "\n")
    code, _, err = cli("import", tmp_path / "fixed.jsonl", "--run", review_run)
    assert code == 0, err
    current = db.rows(conn, "SELECT entity_text, source FROM bi.current_mentions WHERE sentence_id = %(s)s "
                            "ORDER BY start_char", {"s": more[1]})
    assert [(r["entity_text"], r["source"]) for r in current] == [("Heparin", "human"), ("warfarin", "human")]
    other = db.rows(conn, "SELECT source FROM bi.current_mentions WHERE sentence_id = %(s)s", {"s": more[0]})
    assert [r["source"] for r in other] == ["llm"]  # not corrected: the LLM's mention stays current
    history = db.rows(conn, "SELECT source FROM bi.entity_mentions WHERE sentence_id = %(s)s ORDER BY source",
                      {"s": more[1]})
    assert [r["source"] for r in history] == ["gold", "human", "human", "llm"]  # nothing lost
    # the corrected sentence joins the demonstration pool; no audit sentence ever does
    pool = DemoPool.resolve(conn, handmade["dataset_id"], "annotated")
    assert set(pool.ids) == {more[1]}
    assert not set(pool.ids) & set(audit_sentence_ids(conn, handmade["dataset_id"]))


def test_audit_sentences_are_never_demonstrations(conn, cli, corpus, tmp_path):
    code, out, err = cli("select", "--dataset", "bc", "--strategy", "random", "--budget", "10", "--oracle",
                         "--pool-splits", "train")
    assert code == 0, err
    sel = int(out.split()[1].rstrip(":"))
    code, out, err = cli("select", "--dataset", "bc", "--strategy", "audit", "--budget", "8", "--seed", "3",
                         "--oracle", "--pool-splits", "train")
    assert code == 0, err
    audit_run = int(out.split()[1].rstrip(":"))
    ds = db.dataset_id(conn, "bc")
    audit = set(audit_sentence_ids(conn, ds))
    chosen = {r["sentence_id"] for r in db.rows(conn, "SELECT sentence_id FROM selections WHERE run_id = %(r)s",
                                                {"r": sel})}
    assert len(audit) == 8 and not audit & chosen  # drawn only among sentences nobody picked
    # a second audit draws none of the first's
    code, out, err = cli("select", "--dataset", "bc", "--strategy", "audit", "--budget", "5", "--seed", "4",
                         "--oracle", "--pool-splits", "train")
    assert code == 0, err
    assert len(set(audit_sentence_ids(conn, ds))) == 13
    audit = set(audit_sentence_ids(conn, ds))
    # a sentence a selection run picked before it became an audit sentence: out of that run's pool too
    victim = min(chosen)
    conn.execute("INSERT INTO selections (run_id, sentence_id, stage, rank) VALUES (%(r)s, %(s)s, 'audit', 100)",
                 {"r": audit_run, "s": victim})
    conn.commit()
    audit.add(victim)
    assert not audit & set(DemoPool.from_split(conn, ds, "train").ids)
    assert set(DemoPool.from_run(conn, sel).ids) == chosen - {victim}  # stage 3's pool and --demos run:N
    assert not audit & set(DemoPool.from_annotated(conn, ds).ids)
    assert not audit & set(DemoPool.resolve(conn, ds, "split:train").ids)
    with pytest.raises(Exception, match="audit"):
        DemoPool.from_run(conn, audit_run)
    # an audit for a person: the usual export / import round trip
    code, out, err = cli("select", "--dataset", "bc", "--strategy", "audit", "--budget", "2", "--seed", "5",
                         "--pool-splits", "train")
    assert code == 0 and "awaiting_annotation" in out, err
    person = int(out.split()[1].rstrip(":"))
    code, _, err = cli("export", person, "--format", "jsonl", "--out", tmp_path / "audit.jsonl")
    assert code == 0, err
    items = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [i["stage"] for i in items] == ["audit", "audit"]
    (tmp_path / "done.jsonl").write_text("".join(json.dumps({"sentence_id": i["sentence_id"], "entities": [],
                                                             "annotator": "a@b.org"}) + "\n" for i in items))
    code, _, err = cli("import", tmp_path / "done.jsonl", "--run", person)
    assert code == 0, err
    assert db.scalar(conn, "SELECT count(*) FROM annotations WHERE run_id = %(r)s", {"r": person}) == 2
    audit |= {i["sentence_id"] for i in items}
    assert not audit & set(DemoPool.from_annotated(conn, ds).ids)
    # the prompts: demonstrations shown never include an audit sentence
    code, _, err = cli("predict", "--dataset", "bc", "--split", "devel", "--demos", "split:train", "--k", "4",
                       "--limit", "3")
    assert code == 0, err
    shown = {d for r in db.rows(conn, "SELECT demo_ids FROM predictions WHERE demo_ids IS NOT NULL", {})
             for d in r["demo_ids"]}
    assert shown and not shown & audit


def test_crossval_never_retrieves_from_its_own_fold(conn, cli, corpus):
    code, out, err = cli("select", "--dataset", "bc", "--strategy", "random", "--budget", "8", "--oracle",
                         "--pool-splits", "train")
    assert code == 0, err
    sel = int(out.split()[1].rstrip(":"))
    code, _, err = cli("predict", "--dataset", "bc", "--split", "devel", "--demos", f"run:{sel}", "--k", "2",
                       "--limit", "2")
    assert code == 0, err
    code, out, err = cli("quality", "--dataset", "bc", "--folds", "4", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert len(rep["fold_runs"]) == 4 and rep["llm_calls"] == 8  # one call per annotated sentence
    annotated = {r["sentence_id"] for r in db.rows(conn, "SELECT sentence_id FROM annotations WHERE run_id = %(r)s",
                                                   {"r": sel})}
    seen = set()
    for fold_run in rep["fold_runs"]:
        rows = db.rows(conn, "SELECT sentence_id, demo_ids FROM predictions WHERE run_id = %(r)s", {"r": fold_run})
        members = {r["sentence_id"] for r in rows}
        assert members and not members & seen
        seen |= members
        for r in rows:
            assert r["demo_ids"] and not set(r["demo_ids"]) & members  # never its own fold
        params = db.scalar(conn, "SELECT params FROM runs WHERE id = %(r)s", {"r": fold_run})
        assert params["quality_of"] == rep["run_id"] and params["purpose"] == "cross-validation"
    assert seen == annotated
    cv = next(e for e in rep["estimates"] if e["source"] == "cross-validation")
    assert cv["sentences"] == 8 and any("selection picked" in n for n in cv["notes"])
    # again: everything from the cache, nothing asked
    code, out, err = cli("quality", "--dataset", "bc", "--folds", "4", "--json")
    assert code == 0 and json.loads(out)["llm_calls"] == 0
    # quality's own runs are never the dataset's latest prediction run
    latest = db.scalar(conn, "SELECT run FROM bi.prediction_runs WHERE is_latest AND split = 'devel'")
    assert latest == rep["run_id"]


def test_evaluate_refuses_a_run_without_gold(conn, cli, tmp_path):
    (tmp_path / "labels.txt").write_text("Chemical\n")
    assert cli("ingest", _jsonl(tmp_path / "g.jsonl", SENTENCES[:2]), "--dataset", "ng", "--split", "train",
               "--format", "jsonl")[0] == 0
    (tmp_path / "raw.txt").write_text("Plain text without gold .\nAnother one .\n")
    assert cli("ingest", tmp_path / "raw.txt", "--dataset", "ng", "--split", "raw", "--format", "text")[0] == 0
    ds = db.dataset_id(conn, "ng")
    run = runs.open_run(conn, "prediction", ds, {"dataset_id": ds, "split": "raw", "demos": "split:train",
                                                 "k": 1, "model": "hand"}).id
    conn.execute("INSERT INTO predictions (run_id, sentence_id, status, parse_status, n_entities) "
                 "SELECT %(r)s, id, 'done', 'ok', 0 FROM sentences WHERE dataset_id = %(d)s AND split = 'raw'",
                 {"r": run, "d": ds})
    conn.commit()
    code, out, err = cli("evaluate", "--predictions", run)
    assert code == 3 and len(err.strip().splitlines()) == 1
    assert "no gold" in err and "allabel quality" in err
    assert db.scalar(conn, "SELECT count(*) FROM evaluations") == 0
    # and quality, with nothing annotated, refuses in one line too
    code, out, err = cli("quality", "--dataset", "ng")
    assert code == 3 and len(err.strip().splitlines()) == 1 and "--strategy audit" in err
    assert db.scalar(conn, "SELECT count(*) FROM quality_estimates") == 0
