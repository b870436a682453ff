"""A team's first month on its own corpus (issue 32): raw-text ingest (a lone file goes to
`pool`, warnings for a dataset without labels and for a text file that is CoNLL, "labels
added"), `allabel datasets drop` in one transaction, "run allabel init" before init, the
default named allabel+long, BI without stage 3's scratch answers, `usage` totals and wall
seconds, a first-use estimate, gold mention counts in reports and progress bars on a terminal
that reports no height."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios

import numpy as np
import psycopg
import pytest

from allabel.annotate.exporter import export_entities
from allabel.core.config import get_settings
from allabel.select.params import SelectParams
from allabel.select.run import select
from tests.conftest import REPO, fresh_empty_db
from tests.select_fixtures import BC5CDR, small_corpus

RAW = ["Cisplatin induced nephrotoxicity in rats .", "Naloxone reverses the antihypertensive effect of clonidine .",
       "Lidocaine caused seizures in two patients ."]


def raw_file(tmp_path, name="papers.txt", lines=RAW):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def test_lone_text_file_goes_to_pool_warns_without_labels_and_says_labels_added(cli, conn, tmp_path):
    code, out, err = cli("ingest", raw_file(tmp_path), "--dataset", "papers")
    assert code == 0, err
    assert "no --split: into split 'pool'" in out and "into papers/pool" in out
    assert "warning: dataset 'papers' has no entity labels" in err and "--labels FILE" in err
    assert conn.execute("SELECT DISTINCT split FROM sentences").fetchall() == [("pool",)]

    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"Chemical": "a drug or chemical", "Disease": "a disease"}))
    code, out, err = cli("ingest", raw_file(tmp_path), "--dataset", "papers", "--labels", labels)
    assert code == 0, err
    assert "already ingested: papers.txt (papers/pool), labels added: Chemical, Disease" in out
    assert "nothing to do" not in out and "no entity labels" not in err
    assert conn.execute("SELECT count(*) FROM labels").fetchone()[0] == 2
    code, out, err = cli("ingest", raw_file(tmp_path), "--dataset", "papers", "--labels", labels)
    assert "nothing to do" in out and "labels added" not in out  # the same labels again: nothing new

    # the defaults cope with a dataset whose only split is pool: select picks from it
    r = select(SelectParams("papers", "2", "random"), show_progress=False)
    assert r.selected == 2
    assert r.status == "awaiting_annotation"
    from allabel.cli.select import next_step

    hint = next_step(r.run_id, r.status)  # what `select` prints after its summary
    assert f"allabel labelstudio pull {r.run_id}" in hint and f"allabel select --resume {r.run_id}" in hint
    code, out, err = cli("select", "--resume", str(r.run_id))  # too early: says how to annotate
    assert code == 3 and f"allabel labelstudio pull {r.run_id}" in err


def test_text_format_on_a_conll_file_warns(cli, conn, tmp_path):
    conll = tmp_path / "train.tsv"
    conll.write_text("\n\n".join((BC5CDR / "train.tsv").read_text().split("\n\n")[:5]) + "\n")
    code, out, err = cli("ingest", conll, "--dataset", "c", "--split", "pool", "--format", "text")
    assert code == 0
    assert f"warning: {conll}: read as --format text" in err and "looks like CoNLL" in err
    code, out, err = cli("ingest", conll, "--dataset", "c2", "--split", "pool")  # read as CoNLL
    assert code == 0 and "looks like CoNLL" not in err and "no entity labels" not in err
    code, _, err = cli("ingest", raw_file(tmp_path), "--dataset", "c3", "--format", "text")
    assert "looks like CoNLL" not in err  # plain sentences: no such warning


def test_before_init_the_error_says_run_allabel_init(pg_server, monkeypatch, capsys):
    from allabel.cli import main

    monkeypatch.setenv("DATABASE_URL", fresh_empty_db(pg_server))
    get_settings.cache_clear()
    for args in (["datasets"], ["runs"]):
        with pytest.raises(SystemExit) as e:
            main(args)
        err = capsys.readouterr().err
        assert e.value.code == 4, err
        assert err.splitlines()[-1] == "next: allabel init" and "schema is missing" in err
    get_settings.cache_clear()


TABLES_BY_DATASET = {
    "sentences": "SELECT count(*) FROM sentences WHERE dataset_id = %(d)s",
    "labels": "SELECT count(*) FROM labels WHERE dataset_id = %(d)s",
    "source_files": "SELECT count(*) FROM source_files WHERE dataset_id = %(d)s",
    "runs": "SELECT count(*) FROM runs WHERE dataset_id = %(d)s",
    "experiments": "SELECT count(*) FROM experiments WHERE dataset_id = %(d)s",
    "bm25_corpus": "SELECT count(*) FROM bm25_corpus WHERE dataset_id = %(d)s",
    "bm25_lexemes": "SELECT count(*) FROM bm25_lexemes WHERE dataset_id = %(d)s",
    "predict_worklist": "SELECT count(*) FROM predict_worklist WHERE dataset_id = %(d)s",
    "entities": "SELECT count(*) FROM entities e WHERE e.sentence_id BETWEEN %(lo)s AND %(hi)s",
    "embeddings": "SELECT count(*) FROM embeddings WHERE sentence_id BETWEEN %(lo)s AND %(hi)s",
    "bm25_postings": "SELECT count(*) FROM bm25_postings WHERE sentence_id BETWEEN %(lo)s AND %(hi)s",
    "selections": "SELECT count(*) FROM selections WHERE run_id BETWEEN %(rlo)s AND %(rhi)s",
    "annotations": "SELECT count(*) FROM annotations WHERE run_id BETWEEN %(rlo)s AND %(rhi)s",
    "predictions": "SELECT count(*) FROM predictions WHERE run_id BETWEEN %(rlo)s AND %(rhi)s",
    "run_llm_requests": "SELECT count(*) FROM run_llm_requests WHERE run_id BETWEEN %(rlo)s AND %(rhi)s",
    "labelstudio_projects": "SELECT count(*) FROM labelstudio_projects WHERE run_id BETWEEN %(rlo)s AND %(rhi)s",
}


def _dataset_with_everything(conn, tmp_path) -> dict[str, int]:
    """Dataset bc with sentences, gold, embeddings, an annotated selection run, a prediction run
    with an LLM call and entities, a Label Studio project link and an experiment; its id ranges."""
    small_corpus(tmp_path, sizes=(("train", 20), ("test", 5)), embed=True)
    run = select(SelectParams("bc", "3", "random", oracle=True), show_progress=False).run_id
    ds = conn.execute("SELECT id FROM datasets WHERE name = 'bc'").fetchone()[0]
    sid = conn.execute("SELECT min(id) FROM sentences WHERE dataset_id = %s AND split = 'test'", (ds,)).fetchone()[0]
    pred = conn.execute("INSERT INTO runs (kind, dataset_id, status) VALUES ('prediction', %s, 'done') "
                        "RETURNING id", (ds,)).fetchone()[0]
    call = conn.execute("INSERT INTO llm_calls (cache_key, backend, model, request, answer) VALUES "
                        "('k-drop', 'local', 'm', '{}', 'x') RETURNING id").fetchone()[0]
    p = conn.execute("INSERT INTO predictions (run_id, sentence_id, status, call_id) VALUES (%s, %s, 'done', %s) "
                     "RETURNING id", (pred, sid, call)).fetchone()[0]
    conn.execute("INSERT INTO run_llm_requests (run_id, call_id, cache_hit) VALUES (%s, %s, false)", (pred, call))
    text = conn.execute("SELECT text FROM sentences WHERE id = %s", (sid,)).fetchone()[0]
    w = text.split()[0]
    conn.execute("INSERT INTO entities (sentence_id, start_char, end_char, label, text, source, run_id, model, "
                 "prediction_id) VALUES (%s, 0, %s, 'Chemical', %s, 'llm', %s, 'm', %s)", (sid, len(w), w, pred, p))
    conn.execute("INSERT INTO labelstudio_projects (run_id, url, project_id) VALUES (%s, 'http://ls', 7)", (run,))
    conn.execute("INSERT INTO experiments (dataset_id, config_key, params) VALUES (%s, 'x', '{}')", (ds,))
    conn.commit()
    lo, hi = conn.execute("SELECT min(id), max(id) FROM sentences WHERE dataset_id = %s", (ds,)).fetchone()
    return {"d": ds, "lo": lo, "hi": hi, "rlo": min(run, pred), "rhi": max(run, pred)}


def _counts(conn, ids: dict[str, int]) -> dict[str, int]:
    return {t: conn.execute(q, ids).fetchone()[0] for t, q in TABLES_BY_DATASET.items()}


def test_datasets_drop_removes_everything_of_the_dataset_in_one_transaction(cli, conn, tmp_path):
    ids = _dataset_with_everything(conn, tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "pool.txt").write_text("\n".join(RAW) + "\n")
    cli("ingest", tmp_path / "other", "--dataset", "other")
    before = _counts(conn, ids)
    assert all(n > 0 for n in before.values()), before  # every table holds something of bc
    other = conn.execute("SELECT count(*) FROM sentences s JOIN datasets d ON d.id = s.dataset_id "
                         "WHERE d.name = 'other'").fetchone()[0]

    # without --yes and without a terminal: refused, nothing removed
    code, _, err = cli("datasets", "drop", "bc")
    assert code == 3 and "pass --yes" in err
    assert _counts(conn, ids) == before

    # a drop that fails half-way (a trigger raising once the cascade reaches annotations) leaves
    # every row where it was
    conn.execute("CREATE FUNCTION fail_drop() RETURNS trigger LANGUAGE plpgsql AS "
                 "$$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$")
    conn.execute("CREATE TRIGGER fail_drop BEFORE DELETE ON annotations FOR EACH ROW EXECUTE FUNCTION fail_drop()")
    conn.commit()
    code, _, err = cli("datasets", "drop", "bc", "--yes")
    assert code == 4 and "disk on fire" in err and len(err.strip().splitlines()) == 1
    assert _counts(conn, ids) == before
    conn.execute("DROP TRIGGER fail_drop ON annotations")
    conn.commit()

    code, out, err = cli("datasets", "drop", "bc", "--yes")
    assert code == 0, err
    assert out.startswith("dropped dataset bc: ") and f"{before['sentences']:,} sentences" in out
    assert "1 labelstudio projects" in out and "1 llm requests" in out
    assert _counts(conn, ids) == dict.fromkeys(TABLES_BY_DATASET, 0)
    assert conn.execute("SELECT name FROM datasets").fetchall() == [("other",)]
    assert conn.execute("SELECT count(*) FROM sentences").fetchone()[0] == other
    assert conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 1  # the shared cache stays
    code, _, err = cli("datasets", "drop", "bc", "--yes")
    assert code == 4 and "unknown dataset 'bc'" in err


def test_drop_refuses_while_a_live_job_holds_a_run(cli, conn, tmp_path, db_url):
    from allabel.store import runs

    small_corpus(tmp_path, sizes=(("train", 10),), embed=False)
    run = select(SelectParams("bc", "2", "random"), show_progress=False).run_id
    with runs.hold(run, db_url) as h:
        code, _, err = cli("datasets", "drop", "bc", "--yes")
        h.finish("awaiting_annotation")
    assert code == 6 and err.startswith("busy: dataset 'bc' is in use") and f"selection run {run}" in err
    assert conn.execute("SELECT count(*) FROM sentences").fetchone()[0] == 10


def test_bi_names_the_default_and_never_counts_stage_3_scratch_answers(conn, tmp_path):
    small_corpus(tmp_path, sizes=(("train", 20), ("test", 5)), embed=True)
    default = select(SelectParams("bc", "3", "random", length_floor=0.5), show_progress=False).run_id
    paper = select(SelectParams("bc", "3", "random"), show_progress=False).run_id
    names = dict(conn.execute("SELECT run, strategy FROM bi.selection_summary").fetchall())
    assert names == {default: "random+long", paper: "random"}
    # the CLI's default is stored as allabel with floor 0.5 and named allabel+long
    conn.execute("UPDATE runs SET params = params || '{\"strategy\": \"allabel\"}' WHERE id = %s", (default,))
    conn.commit()
    assert conn.execute("SELECT strategy FROM bi.selection_summary WHERE run = %s",
                        (default,)).fetchone()[0] == "allabel+long"

    # an LLM answer of the selection run (stage 3 scores a candidate) and one of a prediction run
    ds = conn.execute("SELECT id FROM datasets").fetchone()[0]
    sid, text = conn.execute("SELECT id, text FROM sentences WHERE split = 'test' ORDER BY id LIMIT 1").fetchone()
    w = text.split()[0]
    pred = conn.execute("INSERT INTO runs (kind, dataset_id, status) VALUES ('prediction', %s, 'done') "
                        "RETURNING id", (ds,)).fetchone()[0]
    for run in (default, pred):
        conn.execute("INSERT INTO predictions (run_id, sentence_id, status) VALUES (%s, %s, 'done')", (run, sid))
        conn.execute("INSERT INTO entities (sentence_id, start_char, end_char, label, text, source, run_id, "
                     "model) VALUES (%s, 0, %s, 'Chemical', %s, 'llm', %s, 'm')", (sid, len(w), w, run))
    conn.commit()
    # the selection run's answer is the newer one; export --source llm still takes the prediction run's
    conn.execute("UPDATE predictions SET updated_at = now() + interval '1 hour' WHERE run_id = %s", (default,))
    conn.commit()
    out = io.StringIO()
    export_entities("llm", "jsonl", out, dataset="bc")
    assert [json.loads(x)["run_id"] for x in out.getvalue().splitlines()] == [pred]
    llm = conn.execute("SELECT run, mentions FROM bi.label_counts WHERE source = 'llm'").fetchall()
    assert llm == [(pred, 1)]
    assert conn.execute("SELECT array_agg(DISTINCT run) FROM bi.entity_mentions WHERE source = 'llm'"
                        ).fetchone()[0] == [pred]
    assert conn.execute("SELECT count(*) FROM entities WHERE source = 'llm'").fetchone()[0] == 2
    # gold and human mentions are all still there
    assert conn.execute("SELECT sum(mentions) FROM bi.label_counts WHERE source <> 'llm'").fetchone()[0] == \
        conn.execute("SELECT count(*) FROM entities WHERE source <> 'llm'").fetchone()[0]


def test_the_reader_still_reads_the_new_views(conn, tmp_path, db_url):
    small_corpus(tmp_path, sizes=(("train", 10),), embed=False)
    conn.execute("SET ROLE allabel_reader")
    for view in ("bi.selection_summary", "bi.label_counts", "bi.entity_mentions", "bi.latest_llm_mentions"):
        conn.execute(f"SELECT count(*) FROM {view}").fetchone()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT count(*) FROM allabel.entities")
    conn.rollback()


def test_usage_has_totals_and_wall_seconds_for_selection_runs(cli, conn, tmp_path):
    small_corpus(tmp_path, sizes=(("train", 20),), embed=True)
    select(SelectParams("bc", "3", "random", oracle=True), show_progress=False)
    select(SelectParams("bc", "4", "coreset", oracle=True), show_progress=False)
    code, out, err = cli("usage")
    assert code == 0, err
    rows = [ln.split() for ln in out.splitlines()[1:]]
    runs_rows, total = rows[:-1], rows[-1]
    assert len(runs_rows) == 2 and all(r[1] == "selection" for r in runs_rows)
    walls = [float(r[10]) for r in runs_rows]  # wall s: the stages' seconds, never '-'
    assert all(w >= 0 for w in walls)
    timings = [sum(t["timings"].values()) for (t,) in conn.execute("SELECT stats FROM runs ORDER BY id")]
    assert walls == pytest.approx([round(t, 1) for t in timings], abs=0.051)
    assert total[:3] == ["total", "2", "runs"]
    assert float(total[-2]) == pytest.approx(sum(walls), abs=0.11)
    code, out, _ = cli("usage", "--json")
    assert [r["wall_seconds"] for r in json.loads(out)] == pytest.approx(timings)


def test_first_use_estimate_uses_the_bundled_models_measured_latency(conn, tmp_path):
    from allabel.llm.local import BUNDLED_SECONDS_PER_CALL
    from allabel.predict.estimate import estimate_predict

    small_corpus(tmp_path, sizes=(("train", 20), ("test", 6)), embed=False)
    assert conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 0
    est = estimate_predict("bc", "test", "split:train", 2, None)
    assert est.calls == 6 and est.seconds == pytest.approx(6 * BUNDLED_SECONDS_PER_CALL)
    assert "time unknown" not in str(est) and "measured for the bundled model" in str(est)


def test_select_help_shows_the_effective_length_floor(cli):
    code, out, _ = cli("select", "--help")
    assert code == 0
    flat = " ".join(out.split())
    assert "[default: 0.5 with the default allabel+long" in flat and "[default: 0.0]" not in flat


def test_explicit_length_floor_wins_over_the_variant(cli, conn, tmp_path):
    small_corpus(tmp_path, sizes=(("train", 20),), embed=False)
    code, out, err = cli("select", "--dataset", "bc", "--budget", "2", "--strategy", "random+long",
                         "--length-floor", "0.2")
    assert code == 0, err
    assert conn.execute("SELECT params ->> 'length_floor' FROM runs").fetchone()[0] == "0.2"


def test_report_cells_say_how_many_gold_mentions_the_f1_rests_on():
    from allabel.experiments.report import intervals, intervals_table

    counts = {("random", "5", 0): np.array([[1, 0, 1], [0, 1, 2], [2, 0, 0]]),
              ("allabel+long", "5", 0): np.array([[2, 0, 0], [1, 0, 1], [1, 1, 1]])}
    rows = intervals(counts, resamples=200)
    assert {r["strategy"]: r["gold_mentions"] for r in rows} == {"random": 6, "allabel+long": 6}
    table = intervals_table(rows)
    assert "| gold mentions |" in table.splitlines()[0]
    assert all(line.rstrip().endswith("| 6 |") for line in table.splitlines()[2:])


BAR = "import time\nfrom allabel.core.progress import bar\nwith bar(3, desc='job') as b:\n" \
      "    for _ in range(3):\n        time.sleep(0.05)\n        b.update(1)\n"


@pytest.mark.parametrize("rows", [0, 40])
def test_bars_are_drawn_on_a_terminal_whatever_height_it_reports(rows):
    """A pty that reports 0 rows (script, docker exec -t, some CI consoles) used to make tqdm
    draw nothing at all; every job's bar goes through allabel.core.progress.bar."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, 120, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen([sys.executable, "-c", BAR], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    p.wait(timeout=60)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.returncode == 0
    assert b"job: 100%" in out and b"3/3" in out, out[-500:]


def test_no_bar_in_a_pipe():
    r = subprocess.run([sys.executable, "-c", BAR], capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0 and r.stderr == b""
