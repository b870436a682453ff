"""Method variants: a strategy name with ``+option`` suffixes, e.g. ``allabel+long+total``.

The plain name is the paper's method; each suffix switches on one improvement so experiments can
give every variant its own row beside the paper's configuration:

* ``+long`` — stages 1 and 2 never pick a sentence shorter than the pool's median token count
  (farthest-first favours outliers, and "most retrievable" favours short generic sentences:
  both picked the shortest, entity-poorest sentences of the pool); ``random+long`` samples
  among the same long sentences, the control for "it only wins by length";
* ``+total`` — stage 3 ranks by the answer's summed negative log-likelihood instead of its
  perplexity (a mean), so entity-rich sentences the model is unsure about come first;
* ``+entities`` — stage 3 ranks the answers that name at least one entity first, by perplexity
  (the most perplexing answers of a stronger model were mostly "no entity");
* ``+clean`` — stage 3's sanity (issue 30): identical normalised texts are candidates once in
  every stage, stage 3's candidates obey the length floor (and the other filters) like stages
  1-2, and an unparseable answer ranks after the parsed ones instead of first;
* ``+ent`` — entity-aware selection without gold (issue 30): ``+clean``, and every stage picks
  only among the sentences in the top quarter of the pool by their embedding similarity to some
  label's ``"name: description"`` (``entity_prior`` 0.75, per label), stage 3 ranks answers that
  name an entity first (as ``+entities``) and takes one candidate per label the annotations lack
  whose answer names it (``type_coverage``).
"""

from __future__ import annotations

from typing import Any

from allabel.core.errors import ConfigError

#: the stage-3 sanity rules of issue 30 (docs/selection.md, "Sparse corpora")
CLEAN: dict[str, Any] = {"dedupe": True, "stage3_filters": True, "unparseable": "last"}

VARIANTS: dict[str, dict[str, Any]] = {
    "long": {"length_floor": 0.5},
    "total": {"uncertainty_score": "total"},
    "entities": {"uncertainty_score": "entities"},
    "clean": CLEAN,
    "ent": {**CLEAN, "entity_prior": 0.75, "type_coverage": True, "uncertainty_score": "entities"},
}


def split_variant(name: str) -> tuple[str, dict[str, Any]]:
    """("allabel+long", ...) -> ("allabel", {"length_floor": 0.5})."""
    base, *mods = name.split("+")
    overrides: dict[str, Any] = {}
    for m in mods:
        if m not in VARIANTS:
            raise ConfigError(f"unknown variant +{m} in {name!r}; one of "
                              + ", ".join(f"+{v}" for v in VARIANTS))
        overrides.update(VARIANTS[m])
    return base, overrides


def variant_name(strategy: str, options: dict[str, Any]) -> str:
    """The name a person gave for a run's strategy and options, the inverse of
    ``split_variant``: ("allabel", {"length_floor": 0.5}) -> "allabel+long". Why: runs store the
    plain strategy with its options, and every place that names a run (the busy line of a job
    lock, ``bi.selection_summary``) must call the default ``allabel+long``, not ``allabel`` (the
    paper's method). Options no variant spells are added in brackets."""
    name = strategy
    rest = dict(options)
    for variant, opts in VARIANTS.items():
        if all(rest.get(k) == v for k, v in opts.items()):
            name += f"+{variant}"
            for k in opts:
                rest.pop(k)
    odd = {k: v for k, v in rest.items()
           if k in ("length_floor", "uncertainty_score") and v not in (None, 0.0, 0, "perplexity")}
    if odd:
        name += " (" + ", ".join(f"{k} {v}" for k, v in odd.items()) + ")"
    return name
