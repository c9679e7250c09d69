"""One small exception hierarchy for mmrag.

Messages say what to do; the API maps classes to status codes."""

from __future__ import annotations


class MmragError(Exception):
    """Base of every error mmrag raises on purpose."""

    code = "mmrag_error"


class ConfigError(MmragError):
    """A setting is invalid; the message names the ``MMRAG_`` variable to fix."""

    code = "invalid_config"


class InvalidInputError(MmragError, ValueError):
    """The caller sent something unusable (bad image, empty text, unknown option)."""

    code = "invalid_input"


class UndecodableImagesError(InvalidInputError):
    """Some images of a batch could not be decoded; nothing of the batch was embedded.

    ``reasons`` maps each such image's index in the batch to why, so a caller can drop those
    items and embed the rest."""

    def __init__(self, reasons: dict[int, str]) -> None:
        self.reasons = dict(sorted(reasons.items()))
        shown = "; ".join(f"#{i}: {why}" for i, why in list(self.reasons.items())[:5])
        super().__init__(f"{len(self.reasons)} image(s) could not be decoded ({shown})")

    def __reduce__(self) -> tuple[type, tuple[dict[int, str]]]:
        return type(self), (self.reasons,)


class TooManyPixelsError(InvalidInputError):
    """A request's pictures together pass the decoded-pixel budget (checked from their headers,
    before decoding); the message names the setting and says to send fewer or smaller ones."""

    code = "payload_too_large"


class NotFoundError(MmragError, LookupError):
    """An item, job or collection does not exist."""

    code = "not_found"


class ConflictError(MmragError):
    """The request does not fit the resource's state now (a job still running); the message
    says what to wait for or do."""

    code = "conflict"


class ModelUnavailableError(MmragError):
    """Model weights cannot be loaded (missing, unreachable hub).

    The message says how to provide them."""

    code = "model_unavailable"


class EmbeddingUnavailableError(ModelUnavailableError):
    """The passage embedding server is down, refuses the request, or answers in a wrong shape;
    ``retry_after`` (seconds) is set when trying again later may help."""

    code = "embedding_unavailable"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EmbeddingBusyError(EmbeddingUnavailableError):
    """The passage embedding server is overloaded (HTTP 429/503); retry after ``retry_after``."""

    code = "embedding_busy"


class EmbeddingTimeoutError(MmragError):
    """The passage embedding server did not answer in time."""

    code = "embedding_timeout"


class StoreError(MmragError):
    """The vector store failed or is unreachable."""

    code = "store_error"


class StoreLockedError(StoreError):
    """The embedded store's data folder is held by another process (mmrag's own lock file).

    A process that gets this has not touched a byte of the shard; a CLI may send its work to the
    server that holds the lock instead."""

    code = "store_locked"


class StorageFullError(StoreError):
    """The data folder's filesystem is (nearly) full: nothing more is written until space is
    freed. Points written before stay."""

    code = "storage_full"


class CollectionMismatchError(StoreError):
    """An existing collection has another vector size or distance than the embedder needs."""

    code = "collection_mismatch"


class LLMUnavailableError(MmragError):
    """The chat model cannot be reached or is not installed."""

    code = "llm_unavailable"


class LLMBusyError(LLMUnavailableError):
    """The chat model is overloaded; retry after ``retry_after`` seconds."""

    code = "llm_busy"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMTimeoutError(MmragError):
    """The chat model did not answer in time."""

    code = "llm_timeout"
