"""Fine-tune the embeddings tier: LoRA on MiniLM-L6 plus context heads, fixed seed."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from alliance.transcripts import features as fx
from alliance.transcripts.embeddings import (
    HIDDEN,
    ContextCoder,
    encode_unique,
    pad,
    pair_ids,
    pair_vectors,
    tokenize,
)
from alliance.transcripts.minilm import load_base
from alliance.transcripts.model import BEHAVIOURS, TALK_TYPES
from alliance.transcripts.weights import save_weights

EPOCHS = 5
BATCH = 32
LR_LORA = 5e-4
LR_HEAD = 1e-3
RANK = 16
ALPHA = 32.0
TOPIC_DROPOUT = 0.3


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def _weights(labels: Sequence[str], classes: Sequence[str]) -> torch.Tensor:
    """Balanced class weights, n / (k * count), as sklearn's class_weight='balanced'."""
    counts = np.array([sum(1 for y in labels if y == c) for c in classes], dtype=np.float64)
    w = len(labels) / (len(classes) * np.maximum(counts, 1))
    return torch.tensor(w, dtype=torch.float32)


def fit(
    turns: Sequence[fx.Turn],
    behaviour: Sequence[str],
    talk: Sequence[str],
    *,
    device: str = "cpu",
    epochs: int = EPOCHS,
    seed: int = 0,
    max_steps: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    paired: bool = False,
) -> tuple[object, ContextCoder]:
    """Train on labelled turns (behaviour for therapist rows, talk for client rows, else "")."""
    _seed(seed)
    tokenizer, encoder = load_base()
    model = ContextCoder(encoder, rank=RANK, alpha=ALPHA, paired=paired).to(device)
    rows = [i for i in range(len(turns)) if behaviour[i] or talk[i]]
    targets = _Targets.of(behaviour, talk, device)
    lora = [p for n, p in model.named_parameters() if "lora_" in n]
    heads = [p for n, p in model.named_parameters() if n.startswith(("behaviour", "talk"))]
    steps_per_epoch = (len(rows) + BATCH - 1) // BATCH
    total = (
        steps_per_epoch * epochs if max_steps is None else min(max_steps, steps_per_epoch * epochs)
    )
    opt, sched = _optimiser(lora, heads, total)
    ids = _token_ids(tokenizer, turns)
    rng = random.Random(seed)
    step = 0
    model.train()
    for _ in range(epochs):
        order = rows[:]
        rng.shuffle(order)
        for s in range(0, len(order), BATCH):
            if step >= total:
                break
            batch = order[s : s + BATCH]
            topics = [turns[i].topic if rng.random() >= TOPIC_DROPOUT else "" for i in batch]
            ob, ot = _forward(model, tokenizer, turns, batch, topics, ids, device)
            loss = targets.loss(ob, ot, batch)
            opt.zero_grad()
            torch.autograd.backward(loss)
            torch.nn.utils.clip_grad_norm_(lora + heads, 1.0)
            opt.step()
            sched.step()
            step += 1
            if progress is not None:
                progress(step, total)
    model.eval()
    return tokenizer, model


@dataclass(frozen=True)
class _Targets:
    """Class indices per turn (-100 where unlabelled) and their class-weighted losses."""

    behaviour: torch.Tensor
    talk: torch.Tensor
    loss_b: nn.CrossEntropyLoss
    loss_t: nn.CrossEntropyLoss
    device: str

    @classmethod
    def of(cls, behaviour: Sequence[str], talk: Sequence[str], device: str) -> _Targets:
        return cls(
            behaviour=torch.tensor([BEHAVIOURS.index(b) if b else -100 for b in behaviour]),
            talk=torch.tensor([TALK_TYPES.index(t) if t else -100 for t in talk]),
            loss_b=nn.CrossEntropyLoss(
                weight=_weights([b for b in behaviour if b], BEHAVIOURS).to(device),
                ignore_index=-100,
            ),
            loss_t=nn.CrossEntropyLoss(
                weight=_weights([t for t in talk if t], TALK_TYPES).to(device), ignore_index=-100
            ),
            device=device,
        )

    def loss(self, ob: torch.Tensor, ot: torch.Tensor, batch: list[int]) -> torch.Tensor:
        """The batch's loss: behaviour on therapist rows plus talk on client rows."""
        idx = torch.tensor(batch)
        yb, yt = self.behaviour[idx], self.talk[idx]
        loss: torch.Tensor = self.loss_b(ob.float(), yb.to(self.device)) * (yb >= 0).any().float()
        if (yt >= 0).any():
            loss = loss + self.loss_t(ot.float(), yt.to(self.device))
        if (yb < 0).all():
            # With every behaviour target ignored that loss is NaN, and NaN times 0 stays NaN.
            loss = self.loss_t(ot.float(), yt.to(self.device))
        return loss


def _optimiser(
    lora: list[nn.Parameter], heads: list[nn.Parameter], total: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with its own rate for the adapter and the heads; warm-up, then linear decay."""
    opt = torch.optim.AdamW(
        [{"params": lora, "lr": LR_LORA}, {"params": heads, "lr": LR_HEAD}], weight_decay=0.01
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, total // 10)) * max(0.0, 1 - s / total)
    )
    return opt, sched


def _token_ids(tokenizer: object, turns: Sequence[fx.Turn]) -> dict[str, list[int]]:
    """Token ids per distinct text (turns, their neighbours, topics), computed once."""
    texts = sorted(
        {t.text for t in turns}
        | {t.prev for t in turns}
        | {t.next for t in turns}
        | {t.topic for t in turns}
    )
    return dict(zip(texts, tokenize(tokenizer, texts), strict=True))


def _forward(
    model: ContextCoder,
    tokenizer: object,
    turns: Sequence[fx.Turn],
    batch: list[int],
    topics: list[str],
    ids: dict[str, list[int]],
    device: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The heads' logits for one batch: each turn with its neighbours, its topic and its pair."""
    seqs = (
        [ids[turns[i].text] for i in batch]
        + [ids[turns[i].prev] for i in batch]
        + [ids[turns[i].next] for i in batch]
        + [ids[t] for t in topics]
    )
    x, m = pad(seqs, device)
    # Client rows also go in as (topic + previous turn, turn) pairs, same topic dropout.
    client = [k for k, i in enumerate(batch) if turns[i].speaker == "client"]
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
        vec = model.encode(x, m).float()
        n = len(batch)
        pair = None
        if model.paired:
            pair = torch.zeros((n, HIDDEN), device=device)
            if client:
                px, pm = pad(
                    pair_ids(
                        tokenizer,
                        [topics[k] for k in client],
                        [turns[batch[k]].prev for k in client],
                        [turns[batch[k]].text for k in client],
                    ),
                    device,
                )
                pair[torch.tensor(client, device=device)] = model.encode(px, pm).float()
        return model.heads(vec[:n], vec[n : 2 * n], vec[2 * n : 3 * n], vec[3 * n :], pair)


def predict(
    tokenizer: object, model: ContextCoder, turns: Sequence[fx.Turn], device: str = "cpu"
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Class probabilities (behaviour, talk) from an unmerged model, e.g. inside CV."""
    texts = [t.text for t in turns] + [t.prev for t in turns] + [t.next for t in turns]
    texts += [t.topic for t in turns]
    model.eval()
    out_b: list[torch.Tensor] = []
    out_t: list[torch.Tensor] = []
    with (
        torch.inference_mode(),
        torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")),
    ):
        vec = encode_unique(model, tokenizer, texts, device, batch_size=256)
        pairs = pair_vectors(model, tokenizer, turns, device)
        for s in range(0, len(turns), 512):
            chunk = turns[s : s + 512]

            def stack(xs: list[str]) -> torch.Tensor:
                return torch.stack([vec[x] for x in xs]).float()

            b, t = model.heads(
                stack([x.text for x in chunk]),
                stack([x.prev for x in chunk]),
                stack([x.next for x in chunk]),
                stack([x.topic for x in chunk]),
                None if pairs is None else pairs[s : s + 512],
            )
            out_b.append(torch.softmax(b.float(), -1).cpu())
            out_t.append(torch.softmax(t.float(), -1).cpu())
    return (
        torch.cat(out_b).numpy().astype(np.float64),
        torch.cat(out_t).numpy().astype(np.float64),
    )


def save(model: ContextCoder, path: Path, meta: dict[str, str]) -> None:
    """Adapter and heads only, float16, with rank/alpha and provenance."""
    arrays: dict[str, NDArray[np.generic]] = {
        k: v.astype(np.float16) for k, v in model.adapter_state().items()
    }
    arrays["rank"] = np.array(model.rank)
    arrays["alpha"] = np.array(model.alpha)
    arrays["paired"] = np.array(int(model.paired))
    save_weights(path, arrays, meta)
