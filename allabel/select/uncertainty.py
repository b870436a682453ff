"""Stage 3, uncertainty: the sentences the LLM is least sure about.

Each candidate is answered by the LLM with k BM25-retrieved demonstrations from the sentences
already selected *and annotated*; its uncertainty is the perplexity of the answer,
exp(-mean token log-prob). Highest first. An answer that could not be parsed at all is not a
confident answer — the model failed on that sentence — so it ranks as the *most* uncertain
(score ``UNPARSEABLE`` = +infinity, ahead of every parsed answer; ties by sentence id). A
candidate whose perplexity is unknown (the backend gave no log-probs) ranks last.
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

from allabel.errors import ConfigError

UNPARSEABLE = math.inf  # the uncertainty score of an answer that could not be parsed

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


def answer_score(perplexity: float | None, answer_tokens: int | None, kind: str) -> float | None:
    """The uncertainty of one answer. ``perplexity`` (the paper): exp(-mean token log-prob), which
    is blind to how much the model wrote. ``total``: the summed negative log-likelihood
    n * ln(perplexity), which grows with every uncertain mention the model writes, so entity-rich
    sentences the model is unsure about rank above short, empty answers."""
    if kind not in ("perplexity", "total"):
        raise ConfigError(f"--uncertainty-score is perplexity or total, not {kind!r}")
    if perplexity is None:
        return None
    if kind == "perplexity":
        return perplexity
    return (answer_tokens or 0) * math.log(perplexity)


def most_uncertain(perplexity: dict[int, float | None], m: int) -> tuple[list[int], list[float | None]]:
    ranked = sorted(perplexity.items(),
                    key=lambda kv: (kv[1] is None, -(kv[1] or 0.0), kv[0]))[:m]
    return [k for k, _ in ranked], [v for _, v in ranked]
