"""Text encoding at the batch's real token length instead of the padded context.

CLIP's text tower is causal and pools at the end-of-text token, so tokens after it never influence
the pooled feature: running only the first ``L`` positions (``L`` = longest text in the batch) gives
the same vectors for a fraction of the compute. Towers where that does not hold (no causal mask,
``last``-token pooling, padding masks, class tokens, Hugging Face text models) use the padded path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from open_clip.transformer import TextTransformer, text_global_pool

TextEncoder = Callable[[torch.Tensor], torch.Tensor]
_POOLS_AT_REAL_TOKENS = ("argmax", "eos", "first")


def real_length_text_encoder(model: Any) -> TextEncoder | None:
    """An encoder for ``(n, L)`` ids with any ``L`` up to the context, or None where not valid."""
    tower = getattr(model, "text", None)
    if isinstance(tower, TextTransformer):
        if tower.cls_emb is not None or getattr(tower, "use_pad_mask", False):
            return None
        parts = _Parts(tower, tower.attn_mask, tower.pool_type, getattr(tower, "eos_id", None))
    elif tower is None and hasattr(model, "token_embedding"):
        parts = _Parts(model, model.attn_mask, model.text_pool_type, model.text_eos_id)
    else:
        return None
    if parts.attn_mask is None or parts.pool_type not in _POOLS_AT_REAL_TOKENS:
        return None
    return parts.encode


class _Parts:
    """The modules of a causal text tower, held by the CLIP model or by its ``text`` attribute."""

    def __init__(self, owner: Any, attn_mask: torch.Tensor, pool_type: str, eos_id: Any) -> None:
        self.owner = owner
        self.attn_mask = attn_mask
        self.pool_type = pool_type
        self.eos_id = eos_id

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        o = self.owner
        length = ids.shape[1]
        cast = o.transformer.get_cast_dtype()
        x = o.token_embedding(ids).to(cast) + o.positional_embedding[:length].to(cast)
        x = o.transformer(x, attn_mask=self.attn_mask[:length, :length])
        x = o.ln_final(x)
        x = text_global_pool(x, ids, self.pool_type, eos_token_id=self.eos_id)
        projection = o.text_projection
        if projection is None:
            return x
        return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection
