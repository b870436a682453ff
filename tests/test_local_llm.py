"""The CTranslate2 local backend: conversion (atomic, reused, corrupt cache rebuilt), exact
log-probs against a teacher-forced pass, batched decoding equal to one-at-a-time decoding."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from allabel.core.config import get_settings
from allabel.llm import convert
from allabel.llm.local import LocalBackend, buckets, bundled_gguf, cache_dir
from allabel.predict.prompt import Demo, build_messages

LABELS = {"Chemical": "drugs and chemicals", "Disease": None}
DEMOS = [Demo("Aspirin can cause Reye syndrome .", [(0, 7, "Chemical", "Aspirin"),
                                                     (18, 31, "Disease", "Reye syndrome")]),
         Demo("Lithium carbonate is used for bipolar disorder .",
              [(0, 17, "Chemical", "Lithium carbonate"), (30, 46, "Disease", "bipolar disorder")])]
SENTENCES = ["Cisplatin induced nephrotoxicity in rats .",
             "Haloperidol - induced catalepsy was reversed by scopolamine .",
             "No adverse effects were seen .",
             "Chronic cocaine use is associated with myocardial infarction and stroke in young adults ."]


@pytest.fixture(scope="module")
def bundled_ct2() -> Path:
    """The bundled model converted once (shared machine-wide model cache, see conftest)."""
    return convert.ensure_ct2(bundled_gguf(), cache_dir(), "float32")


def tiny_model(folder: Path, tokenizer_from: Path) -> Path:
    """A real (random, tiny) Llama model folder with the bundled tokenizer: converts in seconds."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_from, local_files_only=True)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_conversion_is_reused_and_atomic_and_rebuilt_when_corrupt(tmp_path, bundled_ct2, monkeypatch):
    src = tiny_model(tmp_path / "tiny", bundled_ct2)
    cache = tmp_path / "cache"

    # a conversion that dies half-way leaves nothing a loader could pick up
    from ctranslate2.converters import TransformersConverter

    def boom(self, output_dir, **kw):
        Path(output_dir).mkdir(parents=True)
        (Path(output_dir) / "model.bin").write_bytes(b"half")
        raise RuntimeError("killed")

    monkeypatch.setattr(TransformersConverter, "convert", boom)
    with pytest.raises(RuntimeError):
        convert.ensure_ct2(src, cache)
    assert list(cache.iterdir()) == []  # no target, no temporary folder left
    monkeypatch.undo()

    out = convert.ensure_ct2(src, cache)
    assert (out / "model.bin").stat().st_size > 1000 and (out / "tokenizer.json").exists()
    assert out.name.startswith("tiny-") and convert.source_hash(src)[:12] in out.name
    stamp = (out / "model.bin").stat().st_mtime_ns
    assert convert.ensure_ct2(src, cache) == out  # reused: not converted again
    assert (out / "model.bin").stat().st_mtime_ns == stamp

    # a truncated model file is detected and the folder rebuilt
    size = (out / "model.bin").stat().st_size
    with (out / "model.bin").open("r+b") as fh:
        fh.truncate(size // 2)
    again = convert.ensure_ct2(src, cache)
    assert again == out and (out / "model.bin").stat().st_size == size
    import ctranslate2

    ctranslate2.Generator(str(out), device="cpu")  # loads

    # another source (changed bytes) gets its own folder
    (src / "README.md").write_text("another revision of the model\n")
    assert convert.ensure_ct2(src, cache) != out


def _backend(monkeypatch, **env: str) -> LocalBackend:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    return LocalBackend()


def test_logprobs_equal_teacher_forced_scores(monkeypatch, bundled_ct2):
    """float32 compute: the callback's per-token log-probs are exact (|diff| <= 1e-3 for every
    token), and the tokens' text concatenates to the answer."""
    import ctranslate2

    be = _backend(monkeypatch)
    gen, tok = be._loaded()
    scorer = ctranslate2.Generator(str(bundled_ct2), device="cpu", compute_type="float32",
                                   intra_threads=1)
    for s in SENTENCES[:3]:
        msgs = build_messages(LABELS, DEMOS, s)
        comp = be.complete(msgs, 48, 0.0)
        assert comp.token_logprobs and len(comp.token_logprobs) == len(comp.tokens) == comp.completion_tokens
        assert "".join(comp.tokens) == comp.text
        prompt = be._tokens(tok, msgs)
        ids = tok(comp.text, add_special_tokens=False)["input_ids"]
        answer = tok.convert_ids_to_tokens(ids)
        full = list(prompt.static) + prompt.rest + answer
        forced = scorer.score_batch([full])[0].log_probs[-len(answer):]
        assert len(answer) == len(comp.token_logprobs)
        assert np.max(np.abs(np.array(forced) - np.array(comp.token_logprobs))) <= 1e-3


def test_batched_answers_equal_one_at_a_time(monkeypatch):
    """With the default float32 path a batch decodes exactly what each prompt alone decodes (with
    int8 activations it does not: quantisation scales depend on the batch; see docs/llm.md)."""
    be = _backend(monkeypatch, ALLABEL_LLM_BATCH_SIZE="8", ALLABEL_LLM_BATCH_SPREAD="64")
    msgs = [build_messages(LABELS, DEMOS, s) for s in SENTENCES]
    single = [be.complete(m, 48, 0.0) for m in msgs]
    batched = be.complete_batch(msgs, 48, 0.0)
    assert [c.text for c in batched] == [c.text for c in single]
    for a, b in zip(single, batched, strict=True):
        assert a.prompt_tokens == b.prompt_tokens > 0
        assert np.allclose(a.token_logprobs, b.token_logprobs, atol=1e-3)


def test_buckets_group_similar_lengths():
    assert buckets([10, 50, 12, 11, 49, 200], size=8, spread=4) == [[0, 3, 2], [4, 1], [5]]
    assert buckets([5, 5, 5], size=2, spread=0) == [[0, 1], [2]]
    assert buckets([], size=8, spread=16) == []


def test_compute_type_and_threads_follow_settings(monkeypatch):
    be = _backend(monkeypatch, ALLABEL_THREADS="1")
    gen, _ = be._loaded()
    assert gen.compute_type == "float32" and gen.num_generators == 1
    assert be.model == "SmolLM2-135M-Instruct-Q4_1"
    fast = _backend(monkeypatch, ALLABEL_LLM_QUANTIZATION="int8", ALLABEL_LLM_COMPUTE_TYPE="int8")
    assert fast.model == "SmolLM2-135M-Instruct-Q4_1@int8-int8"  # other answers, other cache entries
    assert os.environ["OMP_NUM_THREADS"] == "1"
