"""allabel: ALLabel active learning + LLM entity recognition, with Postgres as the source of truth.

Data flow, one module (or package) per step:
ingest -> embed -> select (select/stages/: one file per stage) -> annotate (annotation) -> predict
-> evaluate.
"""

__version__ = "0.1.0"
