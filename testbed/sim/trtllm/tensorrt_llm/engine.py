"""Engine directories: config.json (version, pretrained_config, build_config) and rank{N}.engine.

A stand-in engine file is a safetensors file holding its rank's weights in the
build dtype, tagged so the backend can tell it from anything else.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from . import __version__

ENGINE_FORMAT = "trtllm-sim-engine/1"


class EngineError(Exception):
    pass


def write_rank(path: Path, weights: dict[str, np.ndarray], rank: int) -> None:
    save_file(weights, str(path), metadata={"format": ENGINE_FORMAT, "rank": str(rank), "version": __version__})


def read_config(engine_dir: Path) -> dict:
    path = engine_dir / "config.json"
    if not path.is_file():
        raise EngineError(f"{path} not found: no TensorRT-LLM engine in {engine_dir}")
    config = json.loads(path.read_text())
    for key in ("version", "pretrained_config", "build_config"):
        if key not in config:
            raise EngineError(f"{path} has no '{key}': not an engine config.json")
    return config


def read_rank(engine_dir: Path, rank: int) -> dict[str, np.ndarray]:
    path = engine_dir / f"rank{rank}.engine"
    if not path.is_file():
        raise EngineError(f"{path} not found: the engine has no file for rank {rank}")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != ENGINE_FORMAT:
                raise EngineError(f"{path} is not a {ENGINE_FORMAT} engine")
            # The test bed's padding (tiny.py --pad-bytes) is never loaded.
            return {name: handle.get_tensor(name) for name in handle.keys()  # noqa: SIM118 (not a dict)
                    if name != "transformer.sim_padding"}
    except EngineError:
        raise
    except Exception as exc:  # a truncated or foreign file
        raise EngineError(f"{path} cannot be read: {exc}") from exc
