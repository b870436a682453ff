"""``allabel predict`` and ``allabel usage``."""

from __future__ import annotations

import json

import typer

from allabel.store import db

llm_app = typer.Typer(help="The LLM endpoint: check what it answers.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
    app.command("usage")(usage)
    llm_app.command("check")(check)
    app.add_typer(llm_app, name="llm")


def check() -> None:
    """Ask the configured endpoint for its models and one tiny answer with log-probs; exit 5
    when stage 3 (uncertainty) could not work there."""
    from allabel.predict.check import check as run_check

    res = run_check()
    for what, detail in res.lines:
        typer.echo(f"{what:<12} {detail}")
    if not res.stage3_ok:
        raise typer.Exit(5)


def predict(
    dataset: str = typer.Option(..., "--dataset"),
    split: str = typer.Option(..., "--split", help="The split whose sentences to label."),
    demos: str = typer.Option(..., "--demos",
                              help="run:ID (a selection run's annotated sentences) or split:NAME "
                                   "(a split's gold annotations; never test). A bare id or name "
                                   "works too unless it is both."),
    k: int = typer.Option(4, "--k", min=0, help="Demonstrations per prompt."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most N sentences in the run."),
    new: bool = typer.Option(False, "--new",
                             help="Skip sentences that any prediction run of the dataset has "
                                  "already finished (label only what has no LLM label yet)."),
    retry_failed: bool = typer.Option(False, "--retry-failed",
                                      help="Ask again the predictions that failed "
                                           "llm_max_attempts times."),
    workers: int = typer.Option(1, "--workers", min=1, help="Local worker processes."),
    estimate: bool = typer.Option(False, "--estimate",
                                  help="Print calls, tokens, time and money; call no LLM."),
    batch_api: bool = typer.Option(False, "--batch-api",
                                   help="OpenAI Batch API: collect finished batches, submit the "
                                        "pending rest (run again, e.g. from cron)."),
) -> None:
    """Recognise entities with the LLM; resumable, cached, one row per sentence and entity."""
    from allabel.predict import predict_split, run_summary

    if batch_api and not estimate:
        from allabel.predict.batch import predict_batch_api

        typer.echo(str(predict_batch_api(dataset, split, demos, k, limit, new=new)))
        return

    if estimate:
        from allabel.estimate import estimate_predict

        typer.echo(str(estimate_predict(dataset, split, demos, k, limit, new=new, workers=workers)))
        return

    st = predict_split(dataset, split, demos, k, limit, workers, new=new, retry_failed=retry_failed)
    if st.processed == 0 and st.enqueued == 0:
        typer.echo(f"nothing to do: every sentence of {dataset}/{split} is predicted "
                   + ("by some prediction run (--new)" if new else f"in run {st.run_id}")
                   + (f" (or is beyond --limit {limit})" if limit else ""))
        return
    with db.connection() as conn:
        s = run_summary(conn, st.run_id)
    ppl = f"{s['mean_perplexity']:.3f}" if s["mean_perplexity"] is not None else "unknown"
    typer.echo(f"run {st.run_id}: {st.processed} sentences in {st.seconds:.1f} s, "
               f"{st.calls} LLM calls, {st.cache_hits} cache hits; run total {s['done']} done "
               f"({s['ok']} ok, {s['partial']} partial, {s['unparseable']} unparseable), "
               f"{s['pending']} pending, {s['failed']} failed, "
               f"{s['entities']} entities, mean perplexity {ppl}")


def usage(
    run: int | None = typer.Option(None, "--run"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """LLM requests, cache hits, calls, tokens, seconds, known perplexities and money per run."""
    from allabel.llm.cache import usage as usage_rows
    from allabel.store.runs import reconcile

    with db.connection() as conn:
        reconcile(conn)  # a run is `running` only while a live process holds it
        rows = usage_rows(conn, run)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    typer.echo(f"{'run':>4} {'kind':<10} {'dataset':<12} {'status':<10} {'requests':>8} "
               f"{'hits':>6} {'calls':>6} {'prompt tok':>10} {'answer tok':>10} {'llm s':>7} "
               f"{'wall s':>7} {'ppl known':>9} {'USD':>9}")
    for r in rows:
        wall = f"{r['wall_seconds']:.1f}" if r["wall_seconds"] is not None else "-"
        known = (f"{r['perplexity_known_share']:.0%}" if r["perplexity_known_share"] is not None
                 else "-")
        usd = f"{r['money']:.4f}" if r["money"] is not None else "no price"
        typer.echo(f"{r['run']:>4} {r['kind']:<10} {r['dataset'][:12]:<12} {r['status']:<10} "
                   f"{r['requests']:>8} {r['cache_hits']:>6} {r['calls']:>6} "
                   f"{r['prompt_tokens']:>10} {r['completion_tokens']:>10} {r['llm_seconds']:>7.1f} "
                   f"{wall:>7} {known:>9} {usd:>9}")
