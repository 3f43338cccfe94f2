"""A static embedder distilled from the local sentence-transformers model: the fast CPU path for failure
clustering at scale (`chainjudge cluster --embedder static`).

Why: on 2 cores all-MiniLM-L6-v2 embeds ~65 texts a second, so 10,000 failing steps take minutes and a
million take days.  Distilled once (every vocabulary token through the model alone, the vectors centred
and reduced to 256 dimensions by PCA, the Model2Vec recipe), a text's vector is the mean of its tokens'
rows: a table lookup, thousands of texts a second.  The price is context (a token means the same in every
sentence), so its modes are not MiniLM's: bench/cluster.py measures both on the labelled CEP faults and
how far their modes agree on real judge explanations.  It has its own name in the embedding cache and in
the catalogue, so its vectors are never compared with MiniLM's.

The distilled table (~30 MB) is written once to the user's cache folder ($CHAINJUDGE_CACHE, else
~/.cache/chainjudge) keyed by the model's files, so a changed model is distilled again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainjudge.workflows.embed import EmbeddingModelMissing, default_model_dir

DIMENSIONS = 256
# cosine similarity to a community's centre; static vectors are closer to each other than MiniLM's, so the
# threshold that separates the same kinds is higher (bench/cluster.py: 0.8 matches MiniLM's 0.6 on the CEP faults)
DEFAULT_THRESHOLD = 0.8


def cache_dir() -> Path:
    return Path(os.environ.get("CHAINJUDGE_CACHE") or Path.home() / ".cache" / "chainjudge") / "static-embeddings"


def _model_key(path: Path) -> str:
    """A key for the model's files (names, sizes and the config's bytes): a changed model is distilled again."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path)}:{file.stat().st_size}".encode())
        if file.name.endswith(".json"):
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def distil(path: Path, batch: int = 2048) -> np.ndarray:
    """One row per vocabulary token: the model's mean-pooled output for [CLS] token [SEP], centred, PCA'd."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sklearn.decomposition import PCA

    model = SentenceTransformer(str(path), device="cpu")
    tokenizer = model.tokenizer
    encoder: Any = model[0].auto_model  # a transformers model (torch types it as a Module)
    ids = torch.arange(len(tokenizer))
    rows = np.zeros((len(ids), encoder.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            inputs = torch.stack([torch.full_like(chunk, tokenizer.cls_token_id), chunk, torch.full_like(chunk, tokenizer.sep_token_id)], 1)
            hidden = encoder(input_ids=inputs, attention_mask=torch.ones_like(inputs)).last_hidden_state
            rows[start : start + batch] = hidden.mean(1).numpy()
    rows -= rows.mean(axis=0)
    return PCA(DIMENSIONS, random_state=0).fit_transform(rows).astype(np.float32)


class StaticEmbedder:
    default_threshold = DEFAULT_THRESHOLD

    def __init__(self, model_dir: str | Path | None = None) -> None:
        path = Path(model_dir) if model_dir else default_model_dir()
        if not (path / "modules.json").exists() and not (path / "config.json").exists():
            raise EmbeddingModelMissing(f"{path} is not a sentence-transformers model directory")
        base = path.name if model_dir else "all-MiniLM-L6-v2"
        self.name = f"{base}/static-{DIMENSIONS}"
        table = cache_dir() / f"{base}-{_model_key(path)}-{DIMENSIONS}.npy"
        if not table.exists():
            table.parent.mkdir(parents=True, exist_ok=True)
            partial = table.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(partial, distil(path))
            partial.replace(table)  # atomic: a concurrent process never reads half a table
        self._rows = np.load(table)
        from transformers import AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(str(path))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The mean of each text's token rows (no special tokens), L2-normalised; an empty text is zeros."""
        encoded = self._tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=512)["input_ids"]
        out = np.zeros((len(encoded), self._rows.shape[1]), dtype=np.float32)
        for i, ids in enumerate(encoded):
            if ids:
                out[i] = self._rows[ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)
