"""Loading a Hugging Face tokenizer directory (tokenizer.json + tokenizer_config.json).

The NGC image's models use transformers.AutoTokenizer; the stand-in models use the
`tokenizers` library underneath it directly, reading the same files.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer


def _token(value):
    return value.get("content") if isinstance(value, dict) else value


def load(directory: str) -> tuple[Tokenizer, int | None, int | None]:
    """Return (tokenizer, eos id, pad id); pad falls back to eos as in the r24.04 models."""
    path = Path(directory)
    if not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(f"tokenizer_dir {directory} has no tokenizer.json")
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    config_path = path / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    eos = _token(config.get("eos_token"))
    pad = _token(config.get("pad_token")) or eos
    return tokenizer, tokenizer.token_to_id(eos) if eos else None, tokenizer.token_to_id(pad) if pad else None
