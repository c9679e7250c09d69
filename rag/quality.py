"""How healthy is a collection's embedding space? Figures people can read, and a picture.

* mean pairwise cosine distance per modality (near 0: everything looks alike, collapse);
* paired vs unpaired image-text cosine, and their margin (how well captions match pictures);
* modality gap: the distance between the image centroid and the text centroid;
* clustering silhouette (k-means, best k) per modality, and how separable the two modalities are;
* near-duplicates: pairs of items whose image (or text) vectors are almost identical.

Example::

    items = collect_vectors(store)
    report = quality_report(items)
    plot_projection(items, Path("quality.png"))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag import payload as keys
from rag.store.base import VectorStore


@dataclass(frozen=True)
class ItemVectors:
    """One item's vectors (``None`` where it has no picture or no text)."""

    id: str
    source: str
    image: np.ndarray | None
    text: np.ndarray | None


@dataclass(frozen=True)
class NearDuplicate:
    """Two items whose vectors of one ``modality`` have cosine >= the threshold."""

    modality: str
    a: str
    b: str
    cosine: float


@dataclass(frozen=True)
class ClusterScore:
    """The best k-means clustering found: ``k`` clusters, mean silhouette ``score`` in [-1, 1]."""

    k: int
    score: float


@dataclass
class QualityReport:
    """The figures of :func:`quality_report`; ``None`` where the collection lacks what they need."""

    items: int
    images: int
    texts: int
    pairs: int
    mean_pairwise_distance: dict[str, float | None]
    paired_cosine: float | None
    unpaired_cosine: float | None
    modality_gap: float | None
    clusters: dict[str, ClusterScore | None]
    modality_silhouette: float | None
    duplicate_threshold: float
    near_duplicate_count: dict[str, int]
    near_duplicates: list[NearDuplicate] = field(default_factory=list)

    @property
    def pair_margin(self) -> float | None:
        """Paired minus unpaired cosine: how far a caption's own picture stands out."""
        if self.paired_cosine is None or self.unpaired_cosine is None:
            return None
        return self.paired_cosine - self.unpaired_cosine

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pair_margin": self.pair_margin}

    def rows(self) -> list[tuple[str, str]]:
        """(figure, value) rows for a table."""
        clusters = {m: _cluster_text(c) for m, c in self.clusters.items()}
        counts = f"{self.items} ({self.images} / {self.texts} / {self.pairs})"
        dups = self.near_duplicate_count
        dup_text = f"images {dups.get('image', 0)}, texts {dups.get('text', 0)}"
        return [
            ("items (images / texts / pairs)", counts),
            ("mean pairwise distance, images", _num(self.mean_pairwise_distance.get("image"))),
            ("mean pairwise distance, texts", _num(self.mean_pairwise_distance.get("text"))),
            ("paired image-text cosine", _num(self.paired_cosine)),
            ("unpaired image-text cosine", _num(self.unpaired_cosine)),
            ("pair margin (paired - unpaired)", _num(self.pair_margin)),
            ("modality gap (centroid distance)", _num(self.modality_gap)),
            ("silhouette, images (best k)", clusters.get("image", "-")),
            ("silhouette, texts (best k)", clusters.get("text", "-")),
            ("silhouette, image vs text", _num(self.modality_silhouette)),
            (f"near-duplicates (cosine >= {self.duplicate_threshold})", dup_text),
        ]


def collect_vectors(
    store: VectorStore, limit: int | None = 5000, page: int = 256
) -> list[ItemVectors]:
    """Scroll the collection with vectors: up to ``limit`` items (first chunk of each item)."""
    items: list[ItemVectors] = []
    offset: str | None = None
    while limit is None or len(items) < limit:
        points, offset = store.scroll(limit=page, offset=offset, with_vectors=True)
        for point in points:
            if int(point.payload.get(keys.CHUNK_INDEX) or 0) > 0:
                continue
            image, text = point.vectors.get("image"), point.vectors.get("text")
            source = str(point.payload.get(keys.SOURCE) or point.id)
            items.append(ItemVectors(point.id, source, _vector(image), _vector(text)))
        if offset is None:
            break
    return items if limit is None else items[:limit]


def quality_report(
    items: Sequence[ItemVectors],
    duplicate_threshold: float = 0.98,
    max_clusters: int = 10,
    max_listed: int = 20,
    seed: int = 0,
) -> QualityReport:
    """Compute every figure for ``items`` (see the module docstring)."""
    images = _stack([i.image for i in items])
    texts = _stack([i.text for i in items])
    paired = [i for i in items if i.image is not None and i.text is not None]
    pair_images = _stack([i.image for i in paired])
    pair_texts = _stack([i.text for i in paired])
    duplicates = {
        "image": near_duplicates(items, "image", duplicate_threshold),
        "text": near_duplicates(items, "text", duplicate_threshold),
    }
    listed = sorted(duplicates["image"] + duplicates["text"], key=lambda d: -d.cosine)
    return QualityReport(
        items=len(items),
        images=len(images),
        texts=len(texts),
        pairs=len(paired),
        mean_pairwise_distance={
            "image": mean_pairwise_distance(images),
            "text": mean_pairwise_distance(texts),
        },
        paired_cosine=_mean_paired(pair_images, pair_texts),
        unpaired_cosine=mean_unpaired_cosine(pair_images, pair_texts),
        modality_gap=modality_gap(images, texts),
        clusters={
            "image": best_clustering(images, max_clusters, seed),
            "text": best_clustering(texts, max_clusters, seed),
        },
        modality_silhouette=modality_silhouette(images, texts, seed),
        duplicate_threshold=duplicate_threshold,
        near_duplicate_count={m: len(found) for m, found in duplicates.items()},
        near_duplicates=listed[:max_listed],
    )


def mean_pairwise_distance(vectors: np.ndarray) -> float | None:
    """Mean cosine distance ``1 - cos`` over all pairs of distinct unit vectors."""
    n = len(vectors)
    if n < 2:
        return None
    total = vectors.sum(axis=0)
    mean_cos = (float(total @ total) - float((vectors * vectors).sum())) / (n * (n - 1))
    return 1.0 - mean_cos


def mean_unpaired_cosine(images: np.ndarray, texts: np.ndarray) -> float | None:
    """Mean cosine of image ``i`` to text ``j`` over ``i != j`` (row ``i`` of both is a pair)."""
    n = len(images)
    if n < 2:
        return None
    everything = float(images.sum(axis=0) @ texts.sum(axis=0))
    return (everything - float((images * texts).sum())) / (n * (n - 1))


def modality_gap(images: np.ndarray, texts: np.ndarray) -> float | None:
    """Euclidean distance between the mean image vector and the mean text vector."""
    if not len(images) or not len(texts):
        return None
    return float(np.linalg.norm(images.mean(axis=0) - texts.mean(axis=0)))


def best_clustering(
    vectors: np.ndarray, max_clusters: int = 10, seed: int = 0
) -> ClusterScore | None:
    """K-means for k = 2..max_clusters; the k with the best cosine silhouette."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    best: ClusterScore | None = None
    for k in range(2, min(max_clusters, len(vectors) - 1) + 1):
        labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(vectors)
        if len(set(labels)) < 2:
            continue
        size = min(len(vectors), 2000)
        score = silhouette_score(
            vectors, labels, metric="cosine", sample_size=size, random_state=seed
        )
        if best is None or score > best.score:
            best = ClusterScore(k, float(score))
    return best


def modality_silhouette(images: np.ndarray, texts: np.ndarray, seed: int = 0) -> float | None:
    """Silhouette of the labels image/text on all vectors: near 1 means two separate islands."""
    from sklearn.metrics import silhouette_score

    if len(images) < 2 or len(texts) < 2:
        return None
    joint = np.concatenate([images, texts])
    labels = np.array([0] * len(images) + [1] * len(texts))
    size = min(len(joint), 2000)
    return float(
        silhouette_score(joint, labels, metric="cosine", sample_size=size, random_state=seed)
    )


def near_duplicates(
    items: Sequence[ItemVectors], modality: str, threshold: float = 0.98, chunk: int = 512
) -> list[NearDuplicate]:
    """Every pair of items whose ``modality`` vectors have cosine >= ``threshold``."""
    present = [i for i in items if getattr(i, modality) is not None]
    vectors = _stack([getattr(i, modality) for i in present])
    found: list[NearDuplicate] = []
    for start in range(0, len(vectors), chunk):
        block = vectors[start : start + chunk] @ vectors.T
        rows, cols = np.nonzero(block >= threshold)
        for r, c in zip(rows, cols, strict=True):
            a, b = start + int(r), int(c)
            if a < b:
                found.append(
                    NearDuplicate(modality, present[a].id, present[b].id, float(block[r, c]))
                )
    return found


def plot_projection(items: Sequence[ItemVectors], path: Path, max_lines: int = 200) -> Path:
    """A PNG of the image and text vectors projected to 2-D (PCA), coloured by modality.

    Thin lines join the two vectors of up to ``max_lines`` items.
    """
    images = [i.image for i in items if i.image is not None]
    texts = [i.text for i in items if i.text is not None]
    points = _project(_stack([*images, *texts]))
    image_xy, text_xy = points[: len(images)], points[len(images) :]
    figure = new_figure(7, 6)
    axes = figure.add_subplot()
    _pair_lines(axes, items, points, max_lines)
    axes.scatter(image_xy[:, 0], image_xy[:, 1], s=10, c="tab:blue", label="image vectors")
    axes.scatter(text_xy[:, 0], text_xy[:, 1], s=10, c="tab:orange", label="text vectors")
    axes.set_title("Embedding space (PCA to 2-D), coloured by modality")
    axes.legend(loc="best")
    return save_figure(figure, path)


def new_figure(width: float, height: float) -> Any:
    """A matplotlib figure on the Agg canvas (no display needed), ``width`` x ``height`` inches
    at 110 dpi: the reports' PNGs (this one, the bias audit's) are drawn on it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Any, path: Path) -> Path:
    """Write ``figure`` as a PNG to ``path``, making its folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def _pair_lines(axes: Any, items: Sequence[ItemVectors], points: np.ndarray, limit: int) -> None:
    image_index = {i.id: n for n, i in enumerate(x for x in items if x.image is not None)}
    n_images = len(image_index)
    text_items = [i for i in items if i.text is not None]
    drawn = 0
    for n, item in enumerate(text_items):
        if item.id in image_index and drawn < limit:
            a, b = points[image_index[item.id]], points[n_images + n]
            axes.plot([a[0], b[0]], [a[1], b[1]], color="0.8", linewidth=0.5, zorder=0)
            drawn += 1


def _project(vectors: np.ndarray) -> np.ndarray:
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2), np.float32)
    from sklearn.decomposition import PCA

    components = min(2, vectors.shape[1], len(vectors))
    projected = PCA(n_components=components).fit_transform(vectors)
    if components < 2:
        projected = np.pad(projected, ((0, 0), (0, 2 - components)))
    return projected


def _mean_paired(images: np.ndarray, texts: np.ndarray) -> float | None:
    return float((images * texts).sum(axis=1).mean()) if len(images) else None


def _vector(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    vector = np.asarray(value, np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else None


def _stack(vectors: Sequence[np.ndarray | None]) -> np.ndarray:
    present = [v for v in vectors if v is not None]
    return np.stack(present) if present else np.zeros((0, 0), np.float32)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _cluster_text(score: ClusterScore | None) -> str:
    return "-" if score is None else f"{score.score:.3f} (k={score.k})"
