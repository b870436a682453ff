"""Selection on sparse corpora (issue 30): identical texts once, stage 3 under the length floor,
unparseable answers after parsed ones (+clean), and the entity-aware variant (+ent) on a
hand-made pool whose entity-bearing sentences are known. Real Postgres, the bundled embedding
model and LLM; the fake OpenAI server only where an unparseable answer must be forced."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError
from allabel.ingest import ingest_path
from allabel.retrieval.embed import embed_dataset
from allabel.select.dedupe import duplicate_mask, normalise
from allabel.select.entity_prior import entity_weighted, prior_blocked
from allabel.select.params import SelectParams
from allabel.select.run import identity_params, select
from allabel.select.stages.entity_aware import ranked, with_coverage
from allabel.select.strategies import canonical
from allabel.select.variants import split_variant
from tests.test_errors_and_masking import _pool, fake  # noqa: F401  (the fake server fixture)

C, D = "Chemical", "Disease"
# (tokens with their tags): 6 sentences name a chemical, 3 a disease, 18 nothing (headings,
# boilerplate, and two duplicates under casefolding: ABSTRACT and "the study was ...")
POOL = [
    [("Cisplatin", C), ("and", None), ("doxorubicin", C), ("were", None), ("given", None),
     ("intravenously", None), ("every", None), ("three", None), ("weeks", None), (".", None)],
    [("Lithium", C), ("carbonate", "I"), ("raised", None), ("the", None), ("serum", None),
     ("concentration", None), ("of", None), ("creatinine", C), (".", None)],
    [("Rats", None), ("received", None), ("morphine", C), (",", None), ("naloxone", C), ("or", None),
     ("haloperidol", C), ("by", None), ("injection", None), (".", None)],
    [("Heparin", C), ("and", None), ("warfarin", C), ("were", None), ("withdrawn", None),
     ("before", None), ("surgery", None), (".", None)],
    [("Oral", None), ("aspirin", C), ("reduced", None), ("the", None), ("synthesis", None),
     ("of", None), ("thromboxane", C), (".", None)],
    [("The", None), ("combination", None), ("of", None), ("gentamicin", C), ("and", None),
     ("vancomycin", C), ("was", None), ("toxic", None), (".", None)],
    [("The", None), ("patient", None), ("developed", None), ("acute", D), ("renal", "I"),
     ("failure", "I"), ("and", None), ("severe", None), ("hepatitis", D), (".", None)],
    [("Seizures", D), ("and", None), ("cardiac", D), ("arrhythmia", "I"), ("were", None),
     ("observed", None), ("in", None), ("two", None), ("children", None), (".", None)],
    [("Parkinson", D), ("disease", "I"), ("and", None), ("migraine", D), ("were", None),
     ("the", None), ("most", None), ("common", None), ("diagnoses", None), (".", None)],
    *[[(w, None) for w in s.split()] for s in (
        "Abstract", "ABSTRACT", "Materials and Methods", "Figure 1", "Results",
        "The study was approved by the local ethics committee .",
        "Participants were recruited between January and June .",
        "All values are given as mean and standard deviation .",
        "Statistical analysis used a two - sided t test .",
        "The authors declare no conflict of interest .",
        "Data were collected by two independent observers .",
        "This work was supported by a grant from the national foundation .",
        "Questionnaires were mailed to every household in the region .",
        "The weather station recorded daily temperature and rainfall .",
        "Interviews lasted about forty minutes on average .",
        "The results are summarised in the table below .",
        "We thank the technicians for their help .",
        "the study was approved by the local ethics committee .")],
]
LABELS = '{"Chemical": "drugs and chemical compounds", "Disease": "diseases and symptoms"}'


def _tsv(sent: list[tuple[str, str | None]]) -> str:
    lines, last = [], None
    for tok, tag in sent:
        if tag == "I":
            lines.append(f"{tok}\tI-{last}")
        elif tag:
            lines.append(f"{tok}\tB-{tag}")
            last = tag
        else:
            lines.append(f"{tok}\tO")
    return "\n".join(lines)


@pytest.fixture()
def sparse(db_url, tmp_path: Path, monkeypatch) -> dict[str, int]:
    """The hand-made pool ingested (split train) and embedded; text -> gold entity count."""
    monkeypatch.setenv("ALLABEL_LLM_MAX_TOKENS", "24")
    get_settings.cache_clear()
    (tmp_path / "train.tsv").write_text("\n\n".join(_tsv(s) for s in POOL) + "\n")
    (tmp_path / "labels.json").write_text(LABELS)
    ingest_path(tmp_path / "train.tsv", "sp", "train", labels_file=tmp_path / "labels.json")
    embed_dataset("sp", show_progress=False)
    yield {" ".join(t for t, _ in s): sum(1 for _, g in s if g in (C, D)) for s in POOL}
    get_settings.cache_clear()


def _params(strategy: str, budget: str, **kw) -> SelectParams:
    base, variant = split_variant(canonical(strategy))
    return replace(SelectParams("sp", budget, base, pool_splits=["train"], **kw), **variant)


def _picks(conn, run_id: int) -> list[dict]:
    rows = conn.execute(
        "SELECT s.stage, t.text, (SELECT array_agg(DISTINCT e.label) FROM entities e "
        "WHERE e.sentence_id = t.id AND e.source = 'gold') AS labels "
        "FROM selections s JOIN sentences t ON t.id = s.sentence_id WHERE s.run_id = %s "
        "ORDER BY s.rank", (run_id,)).fetchall()
    return [{"stage": r[0], "text": r[1], "labels": set(r[2] or [])} for r in rows]


def test_normalisation_and_the_duplicate_mask():
    assert normalise("  The   Study\twas\n approved . ") == "the study was approved ."
    assert normalise("ABSTRACT") == normalise("Abstract") == "abstract"
    mask = duplicate_mask(["Abstract", "Results", "ABSTRACT", "abstract  ", "Figure 1"])
    assert mask.tolist() == [False, False, True, True, False]  # the first of each group stays


def test_unparseable_answers_rank_after_parsed_ones_unknown_last():
    scores = {1: 2.0, 2: 9.0, 3: 1.5, 4: None, 5: 3.0}
    bad = {2, 5}  # unparseable: 2 has the highest perplexity of all, it still comes after 1 and 3
    assert ranked(scores, bad) == [1, 3, 2, 5, 4]
    assert ranked({7: None, 6: None, 8: 1.0}, set()) == [8, 6, 7]  # ties by sentence id


def test_type_coverage_takes_one_answer_per_missing_label_first():
    order = [10, 11, 12, 13, 14]
    named = {10: {"Chemical"}, 12: {"Chemical"}, 13: {"Disease"}}
    assert with_coverage(order, {"Disease"}, named, 2) == [13, 10]
    assert with_coverage(order, {"Disease", "Gene"}, named, 3) == [13, 10, 11]  # no Gene answer
    assert with_coverage(order, set(), named, 3) == [10, 11, 12]


def test_the_prior_has_a_quantile_per_label_and_weights_stage_2():
    # label 0's similarities are all higher than label 1's; a single threshold would starve label 1
    priors = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.0], [0.6, 0.3], [0.5, 0.05]])
    blocked = prior_blocked(priors, 0.8)
    assert blocked.tolist() == [False, True, True, False, True]  # label 0's best, label 1's best
    assert not prior_blocked(priors, 0.0).any()
    credit = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    w = entity_weighted(credit, priors)
    assert int(np.argmax(w)) == 0 and w[3] > w[2]  # row 3's label-1 prior outranks row 2


def test_new_options_are_in_the_identity_only_when_set():
    plain = identity_params(SelectParams("sp", "5", "allabel", length_floor=0.5), 1)
    for name in ("dedupe", "stage3_filters", "unparseable", "entity_prior", "type_coverage"):
        assert name not in plain
    ent = identity_params(_params("allabel+long+ent", "5"), 1)
    assert (ent["dedupe"], ent["stage3_filters"], ent["unparseable"], ent["type_coverage"]) == (
        True, True, "last", True)
    assert ent["entity_prior"] == 0.75 and ent["uncertainty_score"] == "entities"
    clean = identity_params(_params("allabel+long+clean", "5"), 1)
    assert "entity_prior" not in clean and clean["unparseable"] == "last"


def test_identical_texts_are_picked_once(sparse, conn):
    distinct = len({normalise(t) for t in sparse})
    assert distinct == len(sparse) - 2
    r = select(_params("random+clean", str(distinct)), show_progress=False)
    texts = [p["text"] for p in _picks(conn, r.run_id)]
    assert len(texts) == distinct == len({normalise(t) for t in texts})
    with pytest.raises(ConfigError, match="found only"):  # a duplicate is never a pick
        select(_params("random+clean", str(distinct + 1)), show_progress=False)
    r = select(_params("random", str(len(sparse))), show_progress=False)  # the paper: no dedupe
    assert r.selected == len(sparse)


def test_the_entity_variant_spends_the_budget_on_sentences_with_entities(sparse, conn, cli):
    """+ent with +long, as the default pairs them: the prior alone lets very short texts through
    (in this pool MiniLM put "Results" and "Materials and Methods" near "diseases and
    symptoms"), the floor removes them."""
    code, out, err = cli("select", "--dataset", "sp", "--budget", "6", "--strategy",
                         "allabel:DS+long+ent", "--pool-splits", "train")
    assert code == 0, err
    run_id = int(out.split()[1].rstrip(":"))
    ent = _picks(conn, run_id)
    plain = _picks(conn, select(_params("allabel:DS+long", "6"), show_progress=False).run_id)
    with_entities = sum(1 for p in ent if p["labels"])
    assert with_entities >= 5 and with_entities > sum(1 for p in plain if p["labels"]), (ent, plain)
    assert set().union(*(p["labels"] for p in ent)) == {C, D}  # both types shown
    assert not {"Abstract", "ABSTRACT", "Figure 1"} & {p["text"] for p in ent}
    # the person sees every pick with its stage and reason before annotating
    lines = out.split("to annotate (rank stage (reason): text):\n", 1)[1].splitlines()
    assert len(lines) == 7 and lines[-1].startswith("next: ")
    for line, p in zip(lines, ent, strict=False):
        assert f" {p['stage']} (" in line and p["text"][:40] in line
    assert "kNN credit" in out and "highest similarity to the earlier picks" in out


def test_stage_3_obeys_the_length_floor_with_clean(sparse, conn):
    """The bundled model answers; every stage-3 candidate, not only every pick, is at least as
    long as the pool's median (the paper's +long let stage 3 ask and pick short headings)."""
    n = np.array([len(t.split()) for t in sparse])
    floor = np.quantile(n, 0.5)
    r = select(_params("allabel:SU+long+clean", "4", oracle=True, k=1, uncertainty_candidates="all"),
               show_progress=False)
    asked = [row[0] for row in conn.execute(
        "SELECT t.text FROM predictions p JOIN sentences t ON t.id = p.sentence_id WHERE p.run_id = %s",
        (r.run_id,))]
    long_enough = {t for t in sparse if len(t.split()) >= floor}
    picks = _picks(conn, r.run_id)
    assert r.by_stage["uncertainty"] >= 1
    assert asked and set(asked) <= long_enough
    assert all(p["text"] in long_enough for p in picks)
    # only the first of the two casefolded duplicates could be asked
    assert "the study was approved by the local ethics committee ." not in asked


def test_with_clean_an_unparseable_answer_ranks_after_parsed_ones(conn, fake, cli, tmp_path):  # noqa: F811
    ingest_path(_pool(tmp_path, 8), "toy", "pool")
    fake.script = ["ok", "prose", "ok", "ok", "ok", "ok"]  # candidates are asked in id order
    code, out, err = cli("select", "--dataset", "toy", "--budget", "5", "--strategy",
                         "uncertainty+clean", "--oracle", "--uncertainty-candidates", "6", "--k", "1",
                         "--pool-splits", "pool")
    assert code == 0, err
    preds = conn.execute("SELECT sentence_id, parse_status, perplexity FROM predictions").fetchall()
    bad = [p for p in preds if p[1] == "unparseable"]
    assert len(preds) == 6 and len(bad) == 1
    # the paper's rule would rank it first with score inf; here it is the one left out
    picked = {r[0]: r[1] for r in conn.execute("SELECT sentence_id, score FROM selections")}
    assert len(picked) == 5 and bad[0][0] not in picked
    assert all(s != float("inf") for s in picked.values())
