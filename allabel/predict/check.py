"""``allabel llm check``: what the configured LLM endpoint really does, before a run depends on it.

Lists the endpoint's models, makes one tiny entity-recognition request asking for log-probs and
reports each finding. Stage 3 (uncertainty) needs log-probs: without them the check fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from allabel.core.config import get_settings
from allabel.core.errors import AllabelError
from allabel.llm import get_backend
from allabel.predict.parse import parse_answer
from allabel.predict.prompt import Demo, build_messages

LABELS: dict[str, str | None] = {"Chemical": "a drug or chemical", "Disease": "a disease or symptom"}
DEMO = Demo("Cisplatin caused nephrotoxicity .", [(0, 9, "Chemical", "Cisplatin"),
                                                  (17, 31, "Disease", "nephrotoxicity")])
SENTENCE = "Aspirin relieved the headache ."


@dataclass
class CheckResult:
    lines: list[tuple[str, str]] = field(default_factory=list)
    stage3_ok: bool = False
    reachable: bool = False

    def add(self, what: str, detail: str) -> None:
        self.lines.append((what, detail))


def check() -> CheckResult:
    s = get_settings()
    res = CheckResult()
    backend = get_backend()
    if backend.name == "openai":
        res.add("endpoint", f"{backend.base_url} (openai backend, model {backend.model})")
        try:
            models = backend.list_models()
            res.reachable = True
            res.add("reachable", f"yes ({len(models)} models)")
            res.add("model", f"{backend.model}: " + ("found" if backend.model in models else
                                                      "NOT in the endpoint's model list"))
        except AllabelError as e:
            if "HTTP" in str(e):  # it answered, just not /models
                res.reachable = True
                res.add("reachable", f"yes (no model list: {e})")
            else:
                res.add("reachable", f"NO: {e}")
                return res
    else:
        res.add("endpoint", f"local backend, model {backend.model}")
        res.reachable = True
    msgs = build_messages(LABELS, [DEMO], SENTENCE)
    try:
        comp = backend.complete(msgs, max_tokens=s.llm_max_tokens, temperature=s.llm_temperature)
    except AllabelError as e:
        res.add("request", f"FAILED: {e}")
        return res
    secs = comp.latency_ms / 1000
    n = comp.completion_tokens
    rate = f", {n / secs:.1f} answer tokens/s" if n and secs > 0 else ""
    res.add("request", f"answered in {secs:.2f} s ({comp.prompt_tokens} prompt tokens, "
                       f"{n} answer tokens{rate})")
    sent = ", ".join(backend.request_fields()) if hasattr(backend, "request_fields") else "-"
    dropped = sorted(getattr(backend, "dropped", set()))
    if comp.token_logprobs is not None:
        res.stage3_ok = True
        res.add("log-probs", f"yes, {len(comp.token_logprobs)} tokens (fields sent: {sent})")
    else:
        res.add("log-probs", f"NO (fields sent: {sent or 'none'}"
                             + (f"; rejected by the server: {', '.join(dropped)}" if dropped else "")
                             + ")")
    parsed = parse_answer(comp.text, SENTENCE, list(LABELS), comp.tokens, comp.token_logprobs)
    found = ", ".join(f"{e.text}/{e.label}" for e in parsed.entities) or "no entities"
    res.add("JSON answer", f"{parsed.status} ({found})"
            if parsed.status != "unparseable" else f"NOT parsed: {comp.text[:80]!r}")
    res.add("stage 3", "can rank by uncertainty (perplexity)" if res.stage3_ok else
            "CANNOT rank by uncertainty: the answers carry no log-probs")
    return res
