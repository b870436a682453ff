"""Stage 3, uncertainty: the sentences the LLM is least sure about.

Each candidate is answered by the LLM with k BM25-retrieved demonstrations from the sentences
already selected *and annotated*; its uncertainty is the perplexity of the answer,
exp(-mean token log-prob). Highest first; a candidate whose perplexity is unknown (no log-probs)
ranks last. The LLM work itself runs through allabel.predict (cached, resumable, accounted).
"""

from __future__ import annotations

import random


def sample_candidates(pool: list[int], selected: set[int], cap: int | None, seed: int) -> list[int]:
    """The unselected pool sentences to score; at most ``cap``, sampled reproducibly."""
    rest = [i for i in pool if i not in selected]
    if cap is None or cap >= len(rest):
        return rest
    return sorted(random.Random(seed).sample(rest, cap))


def most_uncertain(perplexity: dict[int, float | None], m: int) -> tuple[list[int], list[float | None]]:
    ranked = sorted(perplexity.items(),
                    key=lambda kv: (kv[1] is None, -(kv[1] or 0.0), kv[0]))[:m]
    return [k for k, _ in ranked], [v for _, v in ranked]
