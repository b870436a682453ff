#!/usr/bin/env python
"""Why a strategy wins or loses, for one experiment: Markdown tables on stdout.

    .venv/bin/python scripts/diagnose_experiment.py EXPERIMENT_ID

What each strategy and stage picked (length, gold entities, label coverage, beside the pool),
what the LLM was shown for the test sentences (entities per demonstration, entity types of the
sentence present among its demonstrations), and whether stage 3's perplexity points at errors.
Reads the database the configuration points at; changes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    from allabel.experiments import diagnose
    from allabel.store import db

    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: diagnose_experiment.py EXPERIMENT_ID")
    exp_id = int(sys.argv[1])
    with db.connection() as conn:
        row = conn.execute("SELECT dataset_id, params FROM experiments WHERE id = %s", (exp_id,)).fetchone()
        if row is None:
            sys.exit(f"no experiment {exp_id}")
        dataset_id, params = row
        splits = params.get("pool_splits") or [r[0] for r in conn.execute(
            "SELECT DISTINCT split FROM sentences WHERE dataset_id = %s AND split <> %s",
            (dataset_id, params.get("test_split", "test")))]
        print(diagnose.markdown(conn, exp_id, dataset_id, splits))


if __name__ == "__main__":
    main()
