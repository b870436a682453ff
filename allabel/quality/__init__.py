"""How good are the LLM's labels on a team's own corpus, without a gold test split
(docs/quality.md). One module per job:

* ``data`` — what is scored: a person's latest annotation of a sentence (the truth) and a
  prediction run's mentions on it, as the Arrow tables allabel/experiments/evaluate.py scores;
* ``scoring`` — strict and partial precision, recall and F1 per label and micro (allabel/experiments/evaluate.py's
  DuckDB counting) with 95% bootstrap intervals over sentences (allabel/experiments/stats.py's resamples);
* ``audit`` — the run's answers on the audit sentences (predicted with the run's own settings when
  the run has not answered them): unbiased for the pool the audit was drawn from;
* ``crossval`` — K folds over the annotated non-audit sentences, each predicted with
  demonstrations from the other folds only: free, but biased toward what selection picked;
* ``calibration`` — AUROC and ECE of the mentions' confidence, a Platt or isotonic calibration,
  calibrated probabilities stored per mention, a reliability plot (``plot``);
* ``review`` — the LLM-labelled sentences most likely to hold an error, exported for correction;
* ``report`` — ``allabel quality``: all of it, stored in ``quality_estimates`` (``bi.quality``).
"""
