"""ALLabel selection. The three stages live in three obvious places:
diversity.py (stage 1), similarity.py (stage 2), uncertainty.py (stage 3); strategies.py composes
them (and the baselines); budget.py does the accounting; run.py records everything in Postgres."""
