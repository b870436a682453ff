"""Metrics: hand-computed cases (exact, partial, wrong label, missed, spurious, empty), the
comparison with seqeval on real bc5cdr data (the whole run and a sample of it), and the stored
evaluations rows."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from allabel.core.errors import ConfigError
from allabel.experiments.evaluate import compute, evaluate_run, score_on
from allabel.ingest import ingest_path
from tests.conftest import BC5CDR


def tables(gold, pred, labels=("Chemical", "Disease")):
    def t(rows):
        return pa.table({"sentence_id": pa.array([r[0] for r in rows], pa.int64()),
                         "start_char": pa.array([r[1] for r in rows], pa.int32()),
                         "end_char": pa.array([r[2] for r in rows], pa.int32()),
                         "label": pa.array([r[3] for r in rows], pa.string())})
    return t(gold), t(pred), pa.table({"label": list(labels)})


def by_label(scores):
    return {s.label: s for s in scores}


def test_hand_computed_cases():
    gold = [(1, 0, 7, "Chemical"),    # exact hit
            (1, 15, 28, "Disease"),   # partial hit (pred 15-20)
            (2, 0, 5, "Disease"),     # wrong label in pred
            (3, 4, 9, "Chemical")]    # missed
    pred = [(1, 0, 7, "Chemical"),
            (1, 15, 20, "Disease"),
            (2, 0, 5, "Chemical"),
            (4, 0, 3, "Disease")]     # spurious (sentence 4 has no gold)
    s = by_label(compute(*tables(gold, pred)))
    micro = s["*"]
    assert (micro.tp, micro.n_pred, micro.n_gold) == (1, 4, 4)
    assert micro.precision == pytest.approx(0.25) and micro.recall == pytest.approx(0.25)
    assert micro.f1 == pytest.approx(0.25)
    # partial: the 15-20 Disease overlaps gold 15-28 -> 2 of 4 predictions, 2 of 4 gold found
    assert micro.partial_precision == pytest.approx(0.5) and micro.partial_recall == pytest.approx(0.5)
    chem = s["Chemical"]
    assert (chem.tp, chem.n_pred, chem.n_gold) == (1, 2, 2)
    assert chem.f1 == pytest.approx(0.5)
    dis = s["Disease"]
    assert (dis.tp, dis.n_pred, dis.n_gold) == (0, 2, 2) and dis.f1 == 0.0
    assert dis.partial_precision == pytest.approx(0.5) and dis.partial_recall == pytest.approx(0.5)


def test_empty_cases():
    s = by_label(compute(*tables([], [])))
    assert s["*"].f1 == 0.0 and s["*"].n_gold == 0
    s = by_label(compute(*tables([(1, 0, 3, "Chemical")], [])))
    assert s["*"].recall == 0.0 and s["*"].precision == 0.0
    s = by_label(compute(*tables([], [(1, 0, 3, "Chemical")])))
    assert s["*"].n_pred == 1 and s["*"].precision == 0.0
    s = by_label(compute(*tables([(1, 0, 3, "Chemical")], [(1, 0, 3, "Chemical")] * 2)))
    assert s["*"].f1 == 1.0  # a duplicate prediction row is one mention


def _iob(tokens, starts, spans):
    tags = ["O"] * len(tokens)
    for a, b, lab in spans:
        idx = [i for i, s in enumerate(starts) if s >= a and s + len(tokens[i]) <= b]
        tags[idx[0]] = f"B-{lab}"
        for i in idx[1:]:
            tags[i] = f"I-{lab}"
    return tags


def test_equals_seqeval_on_real_data(conn, tmp_path):
    blocks = (BC5CDR / "devel.tsv").read_text().split("\n\n")
    (tmp_path / "d.tsv").write_text("\n\n".join(blocks[:300]) + "\n")
    ingest_path(tmp_path / "d.tsv", "bc", "test")
    ds = conn.execute("SELECT id FROM datasets").fetchone()[0]
    rows = conn.execute("SELECT id, tokens, token_starts FROM sentences ORDER BY id").fetchall()
    gold = {sid: [] for sid, _, _ in rows}
    for sid, a, b, lab in conn.execute("SELECT sentence_id, start_char, end_char, label FROM entities"):
        gold[sid].append((a, b, lab))
    # a noisy "model": drops, relabels, shifts to token boundaries and invents entities
    rng = random.Random(0)
    pred = {}
    for sid, toks, starts in rows:
        out = []
        for a, b, lab in gold[sid]:
            r = rng.random()
            if r < 0.15:
                continue
            if r < 0.25:
                lab = "Disease" if lab == "Chemical" else "Chemical"
            elif r < 0.35:
                i = starts.index(a)
                if i + 1 < len(toks) and starts[i + 1] < b:  # cut to the first token
                    b = a + len(toks[i])
            out.append((a, b, lab))
        if rng.random() < 0.2:
            i = rng.randrange(len(toks))
            if all(not (a <= starts[i] < b) for a, b, _ in out):
                out.append((starts[i], starts[i] + len(toks[i]), "Chemical"))
        pred[sid] = out
    conn.execute("INSERT INTO runs (kind, dataset_id) VALUES ('prediction', %s)", (ds,))
    run = conn.execute("SELECT max(id) FROM runs").fetchone()[0]
    for sid, spans in pred.items():
        pid = conn.execute("INSERT INTO predictions (run_id, sentence_id, status) VALUES (%s, %s, 'done')"
                           " RETURNING id", (run, sid)).fetchone()[0]
        text = conn.execute("SELECT text FROM sentences WHERE id = %s", (sid,)).fetchone()[0]
        for a, b, lab in spans:
            conn.execute("INSERT INTO entities (sentence_id, start_char, end_char, label, text, source,"
                         " run_id, prediction_id) VALUES (%s,%s,%s,%s,%s,'llm',%s,%s)",
                         (sid, a, b, lab, text[a:b], run, pid))
    conn.commit()
    scores, _ = evaluate_run(run)
    ours = by_label(scores)
    y_true = [_iob(t, s, gold[sid]) for sid, t, s in rows]
    y_pred = [_iob(t, s, pred[sid]) for sid, t, s in rows]
    ref = classification_report(y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True)
    for label in ("Chemical", "Disease"):
        assert ours[label].precision == pytest.approx(ref[label]["precision"], abs=1e-9)
        assert ours[label].recall == pytest.approx(ref[label]["recall"], abs=1e-9)
        assert ours[label].f1 == pytest.approx(ref[label]["f1-score"], abs=1e-9)
    assert ours["*"].f1 == pytest.approx(ref["micro avg"]["f1-score"], abs=1e-9)
    stored = dict(conn.execute("SELECT metric, value FROM evaluations WHERE run_id = %s AND label = '*'",
                               (run,)).fetchall())
    assert stored["f1"] == pytest.approx(ours["*"].f1) and stored["n_gold"] == ours["*"].n_gold

    # an experiment's sample of the run (score_on): scored on those sentences only, nothing stored
    half = {sid for sid, _, _ in rows[::2]}
    part = by_label(score_on(run, sorted(half)))
    kept = [(sid, t, s) for sid, t, s in rows if sid in half]
    ref_half = classification_report([_iob(t, s, gold[sid]) for sid, t, s in kept],
                                     [_iob(t, s, pred[sid]) for sid, t, s in kept],
                                     mode="strict", scheme=IOB2, output_dict=True)
    assert part["*"].f1 == pytest.approx(ref_half["micro avg"]["f1-score"], abs=1e-9)
    assert part["*"].n_gold == sum(len(gold[sid]) for sid in half) < ours["*"].n_gold
    assert dict(conn.execute("SELECT metric, value FROM evaluations WHERE run_id = %s AND label = '*'",
                             (run,)).fetchall()) == stored

    # a sentence the run has not finished is refused, not silently left out of the score
    pending = sorted(half)[0]
    conn.execute("UPDATE predictions SET status = 'pending' WHERE run_id = %s AND sentence_id = %s",
                 (run, pending))
    conn.commit()
    with pytest.raises(ConfigError, match=rf"run {run} has not finished 1 of the {len(half)} sentences"):
        score_on(run, sorted(half))
    assert by_label(score_on(run, sorted(half - {pending})))["*"].n_gold == part["*"].n_gold - len(gold[pending])


def test_evaluate_unknown_run(cli):
    code, _, err = cli("evaluate", "--predictions", "999")
    assert code == 3 and "no run 999" in err
