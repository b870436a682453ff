"""allabel: ALLabel active learning + LLM entity recognition, with Postgres as the source of truth.

Data flow, one package per step, on layers that import downwards only (docs/architecture.md):
ingest -> retrieval (embed, BM25) -> select (select/stages/: one file per stage) -> annotate ->
predict -> experiments (with gold) / quality (without gold); under them core, store (the
database and its SQL in sql/), formats and llm.
"""

__version__ = "0.1.0"
