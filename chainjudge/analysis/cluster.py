"""Cluster failure descriptions into modes (pure over vectors and texts).

Default method: leader-based community detection on cosine similarity (sentence-transformers'
community_detection algorithm, reimplemented in blocked numpy: 3x faster on 2 cores; from 50,000 vectors
on, over an approximate nearest-neighbour index).  Each community is
anchored on one central point and holds only points within the threshold of it, so unrelated failures
cannot be chained together through intermediate ones (single linkage's failure mode); whatever no
community takes is an outlier.  Deterministic, and ~2 s on 10,000 vectors on 2 cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Cluster:
    members: list[int]  # indices into the input
    medoids: list[int]  # the most central members, best first
    keywords: list[str]
    centroid: np.ndarray


@dataclass
class Clustering:
    clusters: list[Cluster]
    outliers: list[int]
    silhouette: float | None


# from this many vectors on, neighbours come from an approximate index (usearch HNSW) instead of all
# pairs: all pairs is n^2 dot products (1M steps: ~4e14 flops, hours on 2 cores); below it, exact is faster
ANN_FROM = 50_000
ANN_NEIGHBOURS = 128


def communities(vectors: np.ndarray, threshold: float, min_size: int, block: int = 2048, ann_from: int = ANN_FROM) -> list[list[int]]:
    """Leader-based communities (the algorithm of sentence-transformers' community_detection, in numpy):
    each point's neighbours are the points within `threshold` cosine similarity; the point with the most
    neighbours leads the first community of its not-yet-taken neighbours, and so on.  Every member is
    within the threshold of its leader, so nothing chains; groups under `min_size` are left as outliers.

    From `ann_from` vectors on, each point's neighbours are its nearest ANN_NEIGHBOURS in an approximate
    index; a point whose every one of those is within the threshold is "saturated": its count is taken as
    ANN_NEIGHBOURS, and when it leads, its members are found exactly (one row of dot products).  So every
    member is still within the threshold of its leader; what is approximate is which of several large,
    saturated points leads, and a neighbour the index misses (its recall is measured in bench/cluster.py)."""
    n = len(vectors)
    if n < max(2, min_size):
        return []
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if n >= ann_from:
        neighbours, row_when_leading = _approximate_neighbours(vectors, threshold)
        counts = np.array([len(x) for x in neighbours])
    else:  # counts only: a leader's neighbours are computed again when it leads (lists of a dense input are n^2)
        counts, neighbours, row_when_leading = _exact_counts(vectors, threshold, block), None, np.ones(n, dtype=bool)
    taken = np.zeros(n, dtype=bool)
    found = []
    for leader in np.argsort(-counts, kind="stable"):
        if counts[leader] < min_size:
            break
        if taken[leader]:
            continue
        # a saturated point (or any point on the exact path) finds its neighbours with one row of dot products
        near = (
            np.flatnonzero(vectors @ vectors[leader] >= threshold) if row_when_leading[leader] or neighbours is None else neighbours[leader]
        )
        members = near[~taken[near]]
        if len(members) >= min_size:
            taken[members] = True
            found.append(sorted(int(i) for i in members))
    return found


def _exact_counts(vectors: np.ndarray, threshold: float, block: int) -> np.ndarray:
    """How many points lie within the threshold of each point (itself included), a block of rows at a time."""
    counts = np.zeros(len(vectors), dtype=np.int64)
    for start in range(0, len(vectors), block):  # blocks bound memory: block x n similarities at a time
        counts[start : start + block] = ((vectors[start : start + block] @ vectors.T) >= threshold).sum(axis=1)
    return counts


def _approximate_neighbours(vectors: np.ndarray, threshold: float) -> tuple[list[np.ndarray], np.ndarray]:
    """Each point's nearest ANN_NEIGHBOURS (inner product on normalised vectors) from a usearch HNSW index,
    those within the threshold kept; and which points had all of them within it (saturated)."""
    from usearch.index import Index

    n, dims = vectors.shape
    k = min(ANN_NEIGHBOURS, n)
    index = Index(ndim=dims, metric="ip", dtype="f32", connectivity=16, expansion_add=128, expansion_search=2 * k)
    # one thread: HNSW built by several threads depends on their interleaving, so the same vectors gave
    # different graphs (and communities) from run to run; built by one, the index is the same every time
    index.add(np.arange(n, dtype=np.uint64), vectors, threads=1)
    found = index.search(vectors, k, threads=0)
    keys = np.asarray(found.keys, dtype=np.int64)
    sims = 1.0 - np.asarray(found.distances, dtype=np.float32)  # usearch's inner-product distance is 1 - dot
    within = (sims >= threshold) & (keys >= 0)
    neighbours = [keys[i][within[i]] for i in range(n)]
    return neighbours, np.asarray(within.all(axis=1))


def medoids(vectors: np.ndarray, members: Sequence[int], k: int = 3) -> list[int]:
    """The members most similar on average to the others: mean_j (v_i . v_j) = v_i . mean_j v_j, so linear
    in the mode's size (the m x m similarity matrix of a 100,000-step mode would need 37 GB)."""
    block = vectors[list(members)]
    centrality = block @ block.mean(axis=0)
    return [members[i] for i in np.argsort(-centrality, kind="stable")[:k]]


def keywords(texts: Sequence[str], groups: Sequence[Sequence[int]], top: int = 5) -> list[list[str]]:
    """c-TF-IDF: words frequent in a cluster and rare across clusters name it."""
    if not groups:
        return []
    from sklearn.feature_extraction.text import CountVectorizer

    documents = [" ".join(texts[i] for i in group) for group in groups]
    try:
        vectorizer = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[^\W\d_][\w'-]+\b", ngram_range=(1, 2), min_df=1)
        counts = vectorizer.fit_transform(documents).toarray().astype(float)
    except ValueError:  # no usable words (e.g. only digits)
        return [[] for _ in groups]
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    idf = np.log(1 + counts.sum(axis=1).mean() / np.maximum(counts.sum(axis=0), 1))
    scores = tf * idf
    vocabulary = vectorizer.get_feature_names_out()
    result = []
    for row in scores:
        chosen: list[str] = []
        for index in np.argsort(-row):
            word = vocabulary[index]
            if row[index] <= 0 or len(chosen) >= top:
                break
            if any(word in c or c in word for c in chosen):
                continue  # skip 'consent' when 'consent ignored' is already in
            chosen.append(word)
        result.append(chosen)
    return result


def silhouette(vectors: np.ndarray, groups: Sequence[Sequence[int]]) -> float | None:
    if len(groups) < 2:
        return None
    from sklearn.metrics import silhouette_score

    index = [i for g in groups for i in g]
    labels = [k for k, g in enumerate(groups) for _ in g]
    if len(index) <= len(groups):
        return None
    # O(n^2): above a few thousand points a fixed random sample gives the same figure to two decimals
    sample = min(len(index), 3000)
    return float(silhouette_score(vectors[index], labels, metric="cosine", sample_size=sample, random_state=0))


def cluster_failures(vectors: np.ndarray, texts: Sequence[str], threshold: float = 0.6, min_size: int = 3) -> Clustering:
    vectors = np.asarray(vectors, dtype=np.float32)
    groups = communities(vectors, threshold, min_size) if len(vectors) else []
    taken = {i for g in groups for i in g}
    names = keywords(texts, groups)
    clusters = []
    for group, words in zip(groups, names, strict=True):
        centroid = vectors[group].mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-9)
        clusters.append(Cluster(members=group, medoids=medoids(vectors, group), keywords=words, centroid=centroid))
    return Clustering(
        clusters=clusters,
        outliers=[i for i in range(len(vectors)) if i not in taken],
        silhouette=silhouette(vectors, groups) if groups else None,
    )
