"""``allabel labelstudio push RUN`` / ``pull RUN``: the annotation hand-off through a running Label
Studio, by its API (label-studio-sdk) instead of files.

push: creates the run's project on first use (title ``allabel run N: DATASET``, labeling config
from the dataset's labels; its id is kept in ``labelstudio_projects`` per run and server, so two
allabel databases never share a project), and adds a task for every selected sentence the
project does not have yet: a sentence still to annotate with the latest LLM prediction as a
pre-annotation, a sentence already annotated (``allabel import`` of a file) with that annotation,
so Label Studio counts it done and nobody annotates it twice. A task that is still open in Label
Studio although its sentence was annotated by import since gets that annotation too (it is
marked done). Pushing again adds only what is missing.

pull: reads the project's annotated tasks and stores them exactly as ``allabel import`` stores a
file (validated as a whole, one transaction, the annotator's e-mail from Label Studio's users);
a sentence whose stored annotation has the same spans is not written again (whoever Label
Studio names: an annotation push copied from an import keeps its importer), so pulling twice
changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from allabel.annotate.exporter import run_records
from allabel.annotate.importer import ImportResult, run_context, store, validate
from allabel.annotate.labelconfig import label_config
from allabel.core.config import get_settings
from allabel.core.errors import ConfigError
from allabel.formats.annotations import parse_tasks
from allabel.formats.writers import ls_results, task_of
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("annotation")
BATCH = 500  # tasks per import request


@dataclass
class PushResult:
    project_id: int
    created_project: bool
    added: int        # tasks created now
    present: int      # sentences the project already had
    added_done: int = 0   # of the added: sentences annotated already (added with their annotation)
    marked_done: int = 0  # open tasks given the annotation an import stored since


def connect(url: str | None = None, api_key: str | None = None) -> Any:
    """A label-studio-sdk client for the configured server (clear errors when not configured)."""
    s = get_settings()
    url = url or s.labelstudio_url
    key = api_key or (s.labelstudio_api_key.get_secret_value() if s.labelstudio_api_key else None)
    if not url:
        raise ConfigError("no Label Studio URL: set ALLABEL_LABELSTUDIO_URL (or LABEL_STUDIO_URL) or pass --url")
    if not key:
        raise ConfigError("no Label Studio access token: set ALLABEL_LABELSTUDIO_API_KEY (or "
                          "LABEL_STUDIO_API_KEY); Label Studio shows it under Account & Settings")
    try:
        from label_studio_sdk import LabelStudio  # deferred: the Label Studio SDK, only for push/pull
    except ImportError as e:  # pragma: no cover - setup installs it
        raise ConfigError(f"label-studio-sdk is not installed ({e}); run ./scripts/setup") from None
    return LabelStudio(base_url=url.rstrip("/"), api_key=key, timeout=120)


def project_title(run_id: int, dataset: str) -> str:
    return f"allabel run {run_id}: {dataset}"[:50]


def _server(url: str | None) -> str:
    return (url or get_settings().labelstudio_url or "").rstrip("/")


def find_project(ls: Any, conn, run_id: int, url: str) -> Any | None:
    """The project this database pushed the run to on this server (None if never, or deleted)."""
    row = db.one(conn, Q.ls_project, {"run_id": run_id, "url": url})
    if row is None:
        return None
    try:
        return ls.projects.get(id=row["project_id"])
    except Exception as e:
        if getattr(e, "status_code", None) == 404:
            return None
        raise


def _call(what: str, fn, *args, **kw):
    """Turn SDK/HTTP failures into one clear line (the server's message included)."""
    try:
        return fn(*args, **kw)
    except Exception as e:  # the SDK raises ApiError, httpx errors, …
        body = getattr(e, "body", None)
        raise ConfigError(f"Label Studio: {what} failed: {body or e}"[:400]) from None


def _project_tasks(ls: Any, project_id: int) -> dict[int, tuple[int, int]]:
    """sentence id -> (task id, annotations) of the project's tasks."""
    out = {}
    for t in ls.tasks.list(project=project_id, fields="all", page_size=1000):
        n = len(t.annotations or []) if t.annotations is not None else (t.total_annotations or 0)
        out[t.data.get("sentence_id")] = (t.id, n)
    return out


def push(run_id: int, url: str | None = None, api_key: str | None = None) -> PushResult:
    ls = connect(url, api_key)
    url = _server(url)
    with db.connection() as conn:
        dataset_id, dataset = _run(conn, run_id)
        records = list(run_records(conn, run_id, include_annotated=True, dataset=dataset))
        config = label_config(db.rows(conn, Q.dataset_labels, {"dataset_id": dataset_id}))
        project = _call("finding the project", find_project, ls, conn, run_id, url)
        created = project is None
        if created:
            project = _call("creating the project", ls.projects.create, title=project_title(run_id, dataset),
                            description=f"allabel selection run {run_id} (allabel labelstudio push/pull)",
                            label_config=config)
            conn.execute(Q.ls_project_save, {"run_id": run_id, "url": url, "project_id": project.id})
            conn.commit()
        elif project.label_config != config:
            _call("updating the labeling config", ls.projects.update, id=project.id, label_config=config)
    have = _call("listing tasks", _project_tasks, ls, project.id)
    new = [r for r in records if r.sentence_id not in have]
    todo = [task_of(r) for r in new]
    for i in range(0, len(todo), BATCH):
        _call("importing tasks", ls.projects.import_tasks, id=project.id, request=todo[i:i + BATCH])
    # open tasks whose sentence an import annotated since: give them that annotation (done)
    stale = [(have[r.sentence_id][0], r) for r in records
             if r.source == "human" and r.sentence_id in have and have[r.sentence_id][1] == 0]
    for task_id, r in stale:
        _call("marking a task done", ls.annotations.create, id=task_id,
              result=ls_results(r.entities, False))
    return PushResult(project.id, created, len(todo), len(records) - len(todo),
                      added_done=sum(1 for r in new if r.source == "human"), marked_done=len(stale))


def run_progress(run_id: int) -> dict[str, Any]:
    """Selected and annotated sentences and the status of a selection run (``pull``'s next line)."""
    with db.connection() as conn:
        return db.one(conn, Q.run_progress, {"run_id": run_id})


def _run(conn, run_id: int) -> tuple[int, str]:
    """(dataset id, dataset name) of a selection run; a clear error for any other run."""
    row = db.one(conn, Q.run_info, {"run_id": run_id})
    if row is None:
        raise ConfigError(f"no run {run_id}")
    if row["kind"] != "selection":
        raise ConfigError(f"run {run_id} is a {row['kind']} run; push a selection run")
    return row["dataset_id"], row["dataset"]


def dataset_config(dataset: str) -> str:
    """The labeling config for a dataset's labels (``allabel labelstudio config``)."""
    with db.connection() as conn:
        return label_config(db.rows(conn, Q.dataset_labels, {"dataset_id": db.dataset_id(conn, dataset)}))


def pull(run_id: int, url: str | None = None, api_key: str | None = None,
         annotator: str | None = None) -> ImportResult:
    ls = connect(url, api_key)
    url = _server(url)
    with db.connection() as conn:
        _dataset_id, dataset = _run(conn, run_id)
        project = _call("finding the project", find_project, ls, conn, run_id, url)
    if project is None:
        raise ConfigError(f"Label Studio has no project for run {run_id} ({project_title(run_id, dataset)!r}); "
                          f"run: allabel labelstudio push {run_id}")
    emails = {u.id: u.email for u in _call("listing users", ls.users.list)}
    tasks = []
    for t in _call("listing tasks", lambda: list(ls.tasks.list(project=project.id, fields="all",
                                                                page_size=1000))):
        anns = [dict(a) if not isinstance(a, dict) else a for a in (t.annotations or [])]
        for a in anns:
            who = a.get("completed_by")
            if isinstance(who, int) and emails.get(who):
                a["completed_by"] = {"email": emails[who]}
        tasks.append({"data": t.data, "annotations": anns})
    where = f"Label Studio project {project.id}"
    warnings: list[str] = []
    items = parse_tasks(tasks, where, warnings)
    with db.connection() as conn:
        texts, labels = run_context(conn, run_id)
        validate(items, texts, labels, run_id, where, by_line=False)
        written = store(conn, run_id, items, texts, annotator, same_spans_kept=True)
    return ImportResult(len(items), written, warnings)
