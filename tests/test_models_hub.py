"""The `hub` model source on a local fake Hugging Face cache: resolved offline, linked, not copied."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from triggertrace.models import load_causal_lm, materialize

REPO_ID = "someone/tiny-chat"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
FP32 = {"load_in_4bit": False, "gradient_checkpointing": False, "dtype": "float32"}
TINY = {
    "kind": "random",
    "seed": 0,
    "config": {
        "model_type": "llama",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 128,
        "tie_word_embeddings": True,
    },
}


def fake_hub_cache(source_dir: Path, cache: Path) -> Path:
    """The layout huggingface_hub writes: blobs by content, a snapshot of links, refs/main -> commit."""
    repo = cache / f"models--{REPO_ID.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for index, path in enumerate(sorted(source_dir.iterdir())):
        blob = repo / "blobs" / f"blob{index}"
        shutil.copyfile(path, blob)
        (snapshot / path.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return repo


@pytest.fixture
def hub(tmp_path, embedded_model_dir, monkeypatch):
    source = tmp_path / "source"
    materialize("tiny", {"source": TINY}, source, tokenizer_dir=embedded_model_dir)
    repo = fake_hub_cache(source, tmp_path / "hub")
    # what HF_HUB_CACHE / HF_HUB_OFFLINE in the environment of a fresh process set (huggingface_hub
    # reads them once, at import)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return source, repo


def test_hub_model_is_linked_from_the_cache_not_copied(hub, tmp_path):
    source, repo = hub
    out = tmp_path / "out"
    record = materialize("tiny-hub", {"source": {"kind": "hub", "id": REPO_ID}}, out)
    assert record["files"] == sorted(path.name for path in source.iterdir())
    for path in out.iterdir():
        assert path.is_symlink(), f"{path.name} was copied"
        assert path.resolve().parent == (repo / "blobs").resolve()
    # the linked model computes what the source model computes
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        expected = load_causal_lm(source, FP32, "cpu")(ids).logits
        linked = load_causal_lm(out, FP32, "cpu")(ids).logits
    assert torch.equal(linked, expected)


def test_hub_revision_not_in_the_cache_names_the_entry(hub, tmp_path):
    with pytest.raises(Exception, match=r"models\.tiny-hub\.source\.id: cannot fetch 'someone/tiny-chat'"):
        materialize("tiny-hub", {"source": {"kind": "hub", "id": REPO_ID, "revision": "v2"}}, tmp_path / "out")
