"""Ingest's COPYs run without their per-row foreign-key checks and statement triggers when the role
may switch them off (session_replication_role, a superuser), and one set-based check per command
(``ingest_check_written``, sql/018) checks the same: a bad row written past the client's own
checks is still refused and nothing changes. A role that may not switch them off ingests through
the triggers. The trigger inventory of both tables is pinned, so that a new trigger gets handled
by the set-based check too."""

from __future__ import annotations

import psycopg
import pytest

from allabel.ingest import ingest_path, stream, writer
from tests.test_ingest_scale import counts

# what ingest_check_written() stands in for (sql/018 lists how each is handled)
SENTENCE_TRIGGERS = {"sentences_bm25_delete", "sentences_bm25_insert", "sentences_text_immutable",
                     "sentences_worklist_delete", "sentences_worklist_insert"}
ENTITY_TRIGGERS = {"entities_span_matches_text_ins", "entities_span_matches_text_upd"}
SENTENCE_FKS = {"sentences_dataset_id_fkey", "sentences_source_file_id_fkey"}
ENTITY_FKS = {"entities_sentence_id_fkey", "entities_run_fk", "entities_prediction_fk"}


def _conll(path, n):
    path.write_text("".join(f"Drug{i}\tB-Chemical\ncauses\tO\nfever{i}\tB-Disease\n\n" for i in range(n)))
    return path


def _corrupt_entity_text(monkeypatch, at: int) -> None:
    """The parser's sentence number ``at`` gets an entity whose text is not the sentence's text
    at its offsets: past the client's span check, as a bug in it would let it through."""
    real = stream.iter_file

    def iter_file(path, fmt, data=None):
        for i, s in enumerate(real(path, fmt, data)):
            if i == at:
                s.entities[0].text = "not the text"
            yield s

    monkeypatch.setattr(stream, "iter_file", iter_file)


def test_trigger_inventory_is_what_the_set_based_check_covers(conn):
    rows = conn.execute("SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
                        "WHERE tgrelid IN ('sentences'::regclass, 'entities'::regclass) "
                        "AND NOT tgisinternal").fetchall()
    assert {n for t, n in rows if t == "sentences"} == SENTENCE_TRIGGERS
    assert {n for t, n in rows if t == "entities"} == ENTITY_TRIGGERS
    fks = conn.execute("SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' "
                       "AND conrelid IN ('sentences'::regclass, 'entities'::regclass)").fetchall()
    assert {n for t, n in fks if t == "sentences"} == SENTENCE_FKS
    assert {n for t, n in fks if t == "entities"} == ENTITY_FKS


def test_superuser_ingest_skips_row_checks_and_checks_the_command(conn, tmp_path, monkeypatch):
    """The test server's role is a superuser: the COPYs run as `replica`, and the set-based
    check refuses an entity whose text is not the sentence's, 2,000 sentences into the file."""
    from allabel.store import db

    assert db.scalar(conn, writer.Q.row_checks_may_be_set_based) is True
    calls = []
    real = writer.check_written
    monkeypatch.setattr("allabel.ingest.check_written", lambda *a: calls.append(a) or real(*a))
    ingest_path(_conll(tmp_path / "a.tsv", 50), "d", "train")
    assert len(calls) == 1 and calls[0][3:] == (50, 100)
    assert conn.execute("SELECT count(*) FROM entities e JOIN sentences s ON s.id = e.sentence_id "
                        "WHERE substr(s.text, e.start_char + 1, e.end_char - e.start_char) = e.text"
                        ).fetchone()[0] == 100
    before = counts(conn)
    _corrupt_entity_text(monkeypatch, 2_000)
    with pytest.raises(psycopg.errors.CheckViolation, match="does not match the text 'Drug2000'"):
        ingest_path(_conll(tmp_path / "b.tsv", 3_000), "d", "more")
    assert counts(conn) == before


def test_entities_on_sentences_outside_the_command_are_refused(conn, tmp_path, monkeypatch):
    """What the entities' foreign key checked: entities written against the wrong sentence ids
    (here shifted by one, the last one past the command's sentences) fail the command."""
    ingest_path(_conll(tmp_path / "a.tsv", 10), "d", "train")
    before = counts(conn)
    shifted = writer.Q.sentence_ids_by_position.replace("SELECT id FROM", "SELECT id + 1 AS id FROM")
    monkeypatch.setitem(writer.Q._blocks, "sentence_ids_by_position", shifted)
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="on sentences of the command"):
        ingest_path(_conll(tmp_path / "b.tsv", 500), "d", "more")
    assert counts(conn) == before


@pytest.fixture()
def plain_role_url(db_url):
    """A login role that owns nothing and is no superuser, with the rights an ingest needs."""
    role = f"ingest_plain_{db_url.rsplit('/', 1)[1].split('?')[0]}"
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER")
        c.execute(f"GRANT USAGE ON SCHEMA allabel TO {role}")
        c.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA allabel TO {role}")
        c.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA allabel TO {role}")
        c.execute(f"ALTER ROLE {role} SET search_path = allabel, public")
    user, rest = db_url.split("://", 1)[1].split("@", 1)
    yield f"postgresql://{role}@{rest}"
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(f"DROP OWNED BY {role}")
        c.execute(f"DROP ROLE {role}")


def test_plain_role_ingests_through_the_triggers(conn, plain_role_url, tmp_path, monkeypatch):
    """No right to set session_replication_role: the per-row checks and triggers run as before
    (the span trigger refuses the same bad entity), and the result is the same rows."""
    from allabel.store import db

    with db.connect(plain_role_url) as c:
        assert db.scalar(c, writer.Q.row_checks_may_be_set_based) is False
    calls = []
    monkeypatch.setattr("allabel.ingest.check_written", lambda *a: calls.append(a))
    r = ingest_path(_conll(tmp_path / "a.tsv", 50), "d", "train", url=plain_role_url)
    assert (r.sentences, r.entities, calls) == (50, 100, [])
    assert conn.execute("SELECT n_docs FROM bm25_corpus").fetchone()[0] == 50
    before = counts(conn)
    _corrupt_entity_text(monkeypatch, 20)
    with pytest.raises(psycopg.errors.CheckViolation, match="does not match the text 'Drug20'"):
        ingest_path(_conll(tmp_path / "b.tsv", 30), "d", "more", url=plain_role_url)
    assert counts(conn) == before


def test_set_based_check_refuses_a_label_the_dataset_lacks(conn, tmp_path, monkeypatch):
    """What the span trigger also checked: a label that is not the dataset's (here the ingest's
    own label upsert loses one) fails the command."""
    real = writer.upsert_labels
    monkeypatch.setattr("allabel.ingest.upsert_labels",
                        lambda c, ds, labels: real(c, ds, {k: v for k, v in labels.items() if k != "Disease"}))
    with pytest.raises(psycopg.errors.CheckViolation, match="label 'Disease' is not a label of the dataset"):
        ingest_path(_conll(tmp_path / "a.tsv", 300), "d", "train")
    assert counts(conn) == dict.fromkeys(counts(conn), 0)


def test_backend_lost_before_the_check_reruns_without_duplicates(conn, db_url, tmp_path, monkeypatch):
    """The ingest's backend is terminated after its set-based COPYs, before the check and the
    commit: the transaction is gone, the retry writes the replayed file again, and the result is
    one copy of it with its statistics."""
    terminated = []
    real = writer.check_written

    def check(c, *a):
        if not terminated:
            with psycopg.connect(db_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (c.info.backend_pid,))
            terminated.append(c.info.backend_pid)
        return real(c, *a)

    monkeypatch.setattr("allabel.ingest.check_written", check)
    r = ingest_path(_conll(tmp_path / "a.tsv", 2_000), "d", "train")
    assert len(terminated) == 1 and (r.sentences, r.entities) == (2_000, 4_000)
    n = counts(conn)
    assert (n["sentences"], n["entities"], n["source_files"]) == (2_000, 4_000, 1)
    assert conn.execute("SELECT count(DISTINCT position), max(position) FROM sentences").fetchone() == (2_000, 1_999)
    assert conn.execute("SELECT n_docs FROM bm25_corpus").fetchone()[0] == 2_000
