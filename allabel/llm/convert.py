"""Convert a local model once into a CTranslate2 folder under the model cache.

GGUF file ──transformers (dequantize)──▶ model folder ──ct2 converter (int8)──▶ CTranslate2 folder

The CTranslate2 folder is named after the source's content hash (``<stem>-<sha12>-ct2``) and is
written into a temporary sibling and renamed into place, so a crash or a concurrent conversion
never leaves a half-written model where a loader looks. A folder whose marker does not match its
files (e.g. a truncated ``model.bin``) counts as corrupt and is rebuilt. The tokenizer (with its
chat template) is saved into the same folder: the CTranslate2 folder is all a loader needs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

MARKER = "allabel-source.json"


def source_hash(path: Path) -> str:
    """sha256 over the source's bytes (a file) or over its files' names and bytes (a folder)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _is_complete(folder: Path, digest: str) -> bool:
    """The marker names this source and every file has the size recorded at conversion."""
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    if marker.get("source_sha256") != digest:
        return False
    sizes = marker.get("sizes", {})
    return bool(sizes) and all((folder / n).is_file() and (folder / n).stat().st_size == sz
                               for n, sz in sizes.items())


def _to_transformers(source: Path, out: Path) -> Path:
    """A GGUF file becomes a normal model folder (dequantised); a folder is used as it is."""
    if source.is_dir():
        return source
    from transformers import (  # deferred: transformers is heavy (seconds to import)
        AutoModelForCausalLM,
        AutoTokenizer,
        GgufConfig,
    )

    model = AutoModelForCausalLM.from_pretrained(
        source.parent, gguf_file=source.name,
        quantization_config=GgufConfig(gguf_file=source.name, dequantize=True))
    tok = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def convert(source: Path, target: Path, quantization: str, digest: str) -> None:
    """Build the CTranslate2 folder in a temporary sibling, then rename it into ``target``."""
    from ctranslate2.converters import TransformersConverter  # deferred: ctranslate2 loads only with the local model
    from transformers import AutoTokenizer  # deferred: transformers is heavy (seconds to import)

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        hf = _to_transformers(source, work / "hf")
        ct2 = work / "ct2"
        TransformersConverter(str(hf), load_as_float16=False).convert(
            str(ct2), quantization=quantization, force=True)
        AutoTokenizer.from_pretrained(hf, local_files_only=True).save_pretrained(ct2)
        sizes = {p.name: p.stat().st_size for p in ct2.iterdir() if p.is_file()}
        (ct2 / MARKER).write_text(json.dumps({"source": str(source), "source_sha256": digest,
                                              "quantization": quantization, "sizes": sizes}))
        if target.exists():  # a corrupt folder (checked by the caller): replace it
            shutil.rmtree(target)
        try:
            os.rename(ct2, target)
        except OSError:  # another process finished the same conversion first
            if not _is_complete(target, digest):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure_ct2(source: Path, cache: Path, quantization: str = "int8") -> Path:
    """The CTranslate2 folder for ``source``: reused when complete, else (re)built."""
    digest = source_hash(source)
    stem = source.stem if source.is_file() else source.name
    target = cache / f"{stem}-{digest[:12]}-ct2-{quantization}"
    if not _is_complete(target, digest):
        convert(source, target, quantization, digest)
    return target
