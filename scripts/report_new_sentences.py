#!/usr/bin/env python
"""An enlarged test sample, split into the sentences already scored and the new ones.

    .venv/bin/python scripts/report_new_sentences.py LARGER_EXPERIMENT_ID EARLIER_EXPERIMENT_ID

``allabel experiment --test-sample 900`` draws a sample that contains the 300-sentence sample of
the same seed (Python's ``random.sample`` draws the same first items), and the cache makes the
300 free. This prints `allabel report`'s interval table for the larger experiment three times:
on all its sentences, on those in the earlier experiment's sample, and on the rest — the part no
strategy had been scored on before. Reads the database the configuration points at; changes
nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    from allabel.experiments.report import _load, intervals, intervals_table, restrict

    if len(sys.argv) != 3 or not all(a.isdigit() for a in sys.argv[1:]):
        sys.exit("usage: report_new_sentences.py LARGER_EXPERIMENT_ID EARLIER_EXPERIMENT_ID")
    larger, earlier = _load(sys.argv[1]), _load(sys.argv[2])
    seen = set(earlier.sample)
    if not seen <= set(larger.sample):
        sys.exit(f"experiment {earlier.id}'s test sample is not inside experiment {larger.id}'s")
    new = set(larger.sample) - seen
    for title, keep in ((f"all {len(larger.sample)} test sentences", set(larger.sample)),
                        (f"the {len(seen)} of experiment {earlier.id}", seen),
                        (f"the {len(new)} new", new)):
        _, counts = restrict(larger.sample, larger.counts, keep)
        print(f"## Experiment {larger.id}, {title}\n\n{intervals_table(intervals(counts))}\n")


if __name__ == "__main__":
    main()
