-- scripts/bench_ops.py: the size of the predicted split.

-- name: count_split_sentences
SELECT count(*) FROM sentences WHERE split = %(split)s;
