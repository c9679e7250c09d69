"""Tiny random-weight rerankers (Qwen3, a cross-encoder) saved to folders, built without a hub."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from rag.retrieval.rerank.qwen3 import PREFIX, SUFFIX, format_pair

CHAT_MARKERS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
CORPUS_WORDS = (
    "yes no red blue green square circle cat dog photo of a the picture shows with and "
    "query document instruct given web search retrieve relevant passages that answer think"
)


def _training_text(instruction: str) -> list[str]:
    sample = format_pair(instruction, "a red square", "a photo of a blue circle")
    return [PREFIX + sample + SUFFIX, CORPUS_WORDS, "yes", "no"] * 4


def build_qwen_tokenizer(folder: Path, instruction: str) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer like Qwen's: chat markers special, "yes"/"no" single tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=CHAT_MARKERS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_training_text(instruction), trainer)
    tokenizer.add_tokens(["<think>", "</think>", "yes", "no"])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<|endoftext|>", eos_token="<|im_end|>"
    )
    fast.save_pretrained(folder)
    return fast


def build_tiny_qwen3(
    folder: Path, instruction: str, seed: int = 0, layer_gain: float | None = None
) -> Path:
    """Save a 2-layer Qwen3ForCausalLM with random weights and its tokenizer into ``folder``.

    ``layer_gain``: the decoder layers' Linear weights get std ``layer_gain / sqrt(fan_in)``
    (signals keep their scale through the layers, as in an initialised or trained network);
    by default they are spread wider (std 0.3), so that scores differ a lot between documents.
    """
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = build_qwen_tokenizer(folder, instruction)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    _spread(model)
    if layer_gain is not None:
        with torch.no_grad():
            for module in model.model.layers.modules():
                if isinstance(module, torch.nn.Linear):
                    module.weight.normal_(0.0, layer_gain / module.in_features**0.5)
    model.save_pretrained(folder)
    return folder


def build_tiny_cross_encoder(folder: Path, seed: int = 0) -> Path:
    """Save a 1-layer BERT cross-encoder (one label) with random weights and a WordPiece vocab."""
    # BertTokenizerFast: an alias in transformers 5; num_labels: a PretrainedConfig argument
    from transformers import (  # type: ignore[attr-defined]
        BertConfig,
        BertForSequenceClassification,
        BertTokenizerFast,
    )

    words = sorted(set(CORPUS_WORDS.split()))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(  # type: ignore[call-arg]
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=1,
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    _spread(model)
    model.save_pretrained(folder)
    return folder


def _spread(model: torch.nn.Module) -> None:
    """Larger random weights than the default init, so that scores differ between documents."""
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(0.0, 0.3)
