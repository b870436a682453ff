"""Stage 3, uncertainty: the sentences the LLM is least sure about.

Each candidate is answered by the LLM with k BM25-retrieved demonstrations from the sentences
already selected *and annotated*; its uncertainty is the perplexity of the answer,
exp(-mean token log-prob). Highest first. An answer that could not be parsed at all is not a
confident answer — the model failed on that sentence — so it ranks as the *most* uncertain
(score ``UNPARSEABLE`` = +infinity, ahead of every parsed answer; ties by sentence id). A
candidate whose perplexity is unknown (the backend gave no log-probs) ranks last. With
``+clean``/``+ent`` (issue 30) the candidates obey the length floor, duplicates and the entity
prior like stages 1-2 do (``stage3_filters``), and unparseable answers rank after the parsed ones
(``unparseable = "last"``, entity_aware.py).
The LLM work itself runs through allabel.predict (cached, resumable, accounted).

Which candidates are scored (``--uncertainty-candidates``): ``10x`` (default) a reproducible sample
of ten times the stage's size — the paper scores every remaining sentence, which at a 5% budget of
a 4,500-sentence pool is ~4,400 LLM calls per selection, about 40 minutes on one CPU thread with
the bundled model; ``all`` scores every remaining sentence (use it with a fast endpoint); a number
caps the sample at that many. The run's stats record how many were scored.
"""

from __future__ import annotations

import math
import random

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError, LLMError
from allabel.core.secrets import mask_url
from allabel.llm import get_backend
from allabel.llm.endpoints import load
from allabel.predict import predict_sentences
from allabel.select.entity_prior import label_texts
from allabel.select.exclusion import demo_pool
from allabel.select.stages import entity_aware
from allabel.select.stages.base import Picks, Q, Stage, StageContext
from allabel.store import db
from allabel.store.sqlfiles import queries

SQ = queries("select_sparse")

UNPARSEABLE = math.inf  # the uncertainty score of an answer that could not be parsed
SCORES = ("perplexity", "total", "entities")  # --uncertainty-score


def candidate_cap(spec: str | int | None, need: int) -> int | None:
    """How many candidates to score for a stage of ``need`` picks (None: all remaining)."""
    text = str(spec).strip().lower() if spec is not None else "all"
    if text == "all":
        return None
    try:
        if text.endswith("x"):
            factor = float(text[:-1])
            if factor > 0:
                return max(need, int(round(factor * need)))
        elif int(text) >= 1:
            return int(text)
    except ValueError:
        pass
    raise ConfigError(f"--uncertainty-candidates is 'all', a multiple like '10x' or a count, not {spec!r}")


def sample_candidates(pool: list[int], selected: set[int], cap: int | None, seed: int) -> list[int]:
    """The unselected pool sentences to score; at most ``cap``, sampled reproducibly."""
    rest = [i for i in pool if i not in selected]
    if cap is None or cap >= len(rest):
        return rest
    return sorted(random.Random(seed).sample(rest, cap))


def answer_score(perplexity: float | None, answer_tokens: int | None, kind: str,
                 n_entities: int | None = None) -> float | None:
    """The uncertainty of one answer. ``perplexity`` (the paper): exp(-mean token log-prob), which
    is blind to how much the model wrote. ``total``: the summed negative log-likelihood
    n * ln(perplexity), which grows with every uncertain mention the model writes, so entity-rich
    sentences the model is unsure about rank above short, empty answers. ``entities``: the
    perplexity of an answer that names at least one entity, 0 for one that names none — with
    Qwen2.5-Coder the most perplexing answers were mostly "no entity" on entity-poor sentences
    (docs/results.md, section D), which teach little as demonstrations; a perplexity is >= 1, so
    every answer with an entity ranks first."""
    if kind not in SCORES:
        raise ConfigError(f"--uncertainty-score is one of {', '.join(SCORES)}, not {kind!r}")
    if perplexity is None:
        return None
    if kind == "perplexity":
        return perplexity
    if kind == "entities":
        return perplexity if (n_entities or 0) > 0 else 0.0
    return (answer_tokens or 0) * math.log(perplexity)


def most_uncertain(perplexity: dict[int, float | None], m: int) -> tuple[list[int], list[float | None]]:
    ranked = sorted(perplexity.items(),
                    key=lambda kv: (kv[1] is None, -(kv[1] or 0.0), kv[0]))[:m]
    return [k for k, _ in ranked], [v for _, v in ranked]


class Uncertainty(Stage):
    """Stage 3 (U): the candidates whose LLM answers are least certain. Its demonstrations are
    the run's annotated picks, so those must be annotated first."""

    name = "uncertainty"
    letter = "U"
    needs_annotations = True
    asks_llm = True
    uses_seed = True  # only when the candidates are a sample (see sample_candidates)

    def pick(self, ctx: StageContext, n: int) -> Picks:
        p = ctx.params
        filtered = getattr(p, "stage3_filters", False)  # +clean/+ent: floor, duplicates, prior
        excluded = (set(ctx.pool[i] for i in ctx.picked_order) if not filtered
                    else {sid for sid, b in zip(ctx.pool, ctx.blocked(), strict=True) if b})
        cands = sample_candidates(ctx.pool, excluded, candidate_cap(p.uncertainty_candidates, n),
                                  p.seed)
        if len(cands) < n:
            raise ConfigError(f"only {len(cands)} uncertainty candidates for {n} picks: raise "
                              f"--uncertainty-candidates" + (" or lower the floors" if filtered else ""))
        rows = _answer(ctx, cands)
        if getattr(p, "unparseable", "first") == "first" and not getattr(p, "type_coverage", False):
            # the paper's rule: an unparseable answer is not a confident one, most uncertain
            score = {r["sentence_id"]: (UNPARSEABLE if r["parse_status"] == "unparseable"
                                        else answer_score(r["perplexity"], r["completion_tokens"],
                                                          p.uncertainty_score, r["n_entities"]))
                     for r in rows}
            return most_uncertain({c: score.get(c) for c in cands}, n)
        return _rank_entity_aware(ctx, rows, cands, n)


def _rank_entity_aware(ctx: StageContext, rows: list[dict], cands: list[int], n: int) -> Picks:
    """Stage 3 under ``unparseable = "last"`` and, with ``type_coverage``, one pick per label the
    annotations lack whose answer names it (entity_aware.py)."""
    p = ctx.params
    by_id = {r["sentence_id"]: r for r in rows}
    bad = {c for c, r in by_id.items() if r["parse_status"] == "unparseable"}
    scores: dict[int, float | None] = {}
    for c in cands:
        r = by_id.get(c)
        if r is None:
            scores[c] = None
        elif c in bad:
            scores[c] = entity_aware.unparseable_score(r["perplexity"])
        else:
            scores[c] = answer_score(r["perplexity"], r["completion_tokens"], p.uncertainty_score,
                                     r["n_entities"])
    order = entity_aware.ranked(scores, bad)
    if getattr(p, "type_coverage", False):
        covered = {r["label"] for r in db.rows(ctx.conn, SQ.annotated_labels, {"run_id": ctx.run_id})}
        named: dict[int, set[str]] = {}
        for r in db.rows(ctx.conn, SQ.answer_labels, {"run_id": ctx.run_id, "ids": cands}):
            named.setdefault(r["sentence_id"], set()).add(r["label"])
        missing = set(label_texts(ctx.conn, ctx.dataset_id)) - covered
        chosen = entity_aware.with_coverage(order, missing, named, n)
    else:
        chosen = order[:n]
    return chosen, [scores[c] for c in chosen]


def _answer(ctx: StageContext, cands: list[int]) -> list[dict]:
    """Ask the LLM for every candidate (cached, resumable, under the selection run) and return
    the answers; refuse to rank when too few carry a perplexity."""

    conn, run_id = ctx.conn, ctx.run_id
    demos = demo_pool(ctx)  # the run's annotations, and in a round every earlier round's
    conn.commit()
    predict_sentences(run_id, cands, demos, ctx.params.k, ctx.url, show_progress=ctx.show_progress,
                      workers=ctx.workers, own_run=False)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(Q.answer_uncertainty, {"run_id": run_id, "ids": cands}).fetchall()
    known = sum(1 for r in rows if r["perplexity"] is not None)
    share = known / len(cands) if cands else 1.0
    conn.execute(Q.add_stats, {"run_id": run_id, "stats": Jsonb({
        "perplexity_known_share": round(share, 4), "uncertainty_candidates": len(cands)})})
    conn.commit()
    minimum = get_settings().llm_min_known_perplexity
    if share < minimum:  # never rank silently on unknown uncertainty
        message = _unknown_uncertainty(conn, run_id, cands, known, minimum)
        # forget the answers without a perplexity (their calls stay cached), so that the same
        # command asks again once the endpoint gives log-probs
        conn.execute(Q.forget_unknown, {"run_id": run_id, "ids": cands})
        conn.commit()
        raise LLMError(message)
    return rows


def _unknown_uncertainty(conn: psycopg.Connection, run_id: int, cands: list[int], known: int,
                         minimum: float) -> str:
    """The refusal message: how many lack a perplexity, which endpoint, and why."""

    backend = get_backend()
    where = backend.name
    dropped: set[str] = set()
    if backend.name == "openai":
        where = f"endpoint {mask_url(backend.base_url)} (model {backend.model})"
        dropped = load(backend.base_url, backend.model)[0]
    with conn.cursor(row_factory=dict_row) as cur:
        gaps = cur.execute(Q.perplexity_gaps, {"run_id": run_id, "ids": cands}).fetchone()
    causes = []
    if gaps["no_logprobs"]:
        cause = f"{gaps['no_logprobs']} answers carried no log-probs"
        if dropped & {"logprobs", "top_logprobs"}:
            cause += f" (the endpoint rejected the request fields {', '.join(sorted(dropped))})"
        else:
            cause += " although logprobs and top_logprobs were asked for: the server does not return them"
        causes.append(cause)
    if gaps["empty_answer"]:
        causes.append(f"{gaps['empty_answer']} answers were empty")
    if gaps["not_answered"]:
        causes.append(f"{gaps['not_answered']} candidates got no answer")
    return (f"stage 3 (uncertainty) refused: only {known} of {len(cands)} candidates "
            f"({known / max(len(cands), 1):.0%}) have a perplexity, at least "
            f"{minimum:.0%} needed (llm_min_known_perplexity); {where}: "
            f"{'; '.join(causes) or 'unknown cause'}. `allabel llm check` shows what the "
            f"endpoint answers; use a server that returns log-probs (vLLM, llama.cpp, Ollama "
            f">= 0.12.11, OpenAI) or the local backend, then run the same command again "
            f"(answers cached without log-probs are asked again once the endpoint gives them)")
