"""Checkpoints: weights and optimizer state as safetensors, everything else in a JSON sidecar.

Nothing is pickled, so loading a checkpoint runs no code. A run folder holds the latest checkpoint
in ``checkpoint/``::

    checkpoint/model.safetensors      the model's state_dict
    checkpoint/optimizer.safetensors  the optimizer's tensors, keyed "<param index>.<name>"
    checkpoint/checkpoint.json        config, implementation, step, epoch, position, elapsed time,
                                      the optimizer's param groups and scalar state, last metrics

A new checkpoint is written whole into ``checkpoint.tmp/`` and then swapped in, so an interrupted
save leaves the previous one intact.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

FORMAT = 1
DIRNAME = "checkpoint"


def save_checkpoint(*, run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    meta: dict) -> Path:
    """Write the checkpoint of a run (``meta``: JSON-able, with ``config``, ``step`` …); returns its folder."""
    run_dir = Path(run_dir)
    tmp, final, old = run_dir / f"{DIRNAME}.tmp", run_dir / DIRNAME, run_dir / f"{DIRNAME}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    record = {"format": FORMAT, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "torch": torch.__version__,
              **meta, "optimizer": opt_meta}
    (tmp / "checkpoint.json").write_text(json.dumps(record, indent=2))
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def find_checkpoint(path: Path) -> Path | None:
    """The checkpoint folder for ``path``: a run folder, a checkpoint folder or its JSON file."""
    path = Path(path)
    if path.is_file() and path.name == "checkpoint.json":
        path = path.parent
    for candidate in (path, path / DIRNAME, path / f"{DIRNAME}.old"):
        if (candidate / "checkpoint.json").is_file() and (candidate / "model.safetensors").is_file():
            return candidate
    return None


def read_meta(folder: Path) -> dict:
    """The JSON sidecar of a checkpoint folder."""
    return json.loads((Path(folder) / "checkpoint.json").read_text())


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The model's state_dict, from safetensors (no pickle)."""
    return load_file(str(Path(folder) / "model.safetensors"))


def load_optimizer_state(folder: Path, meta: dict) -> dict:
    """The optimizer's state_dict, rebuilt from its safetensors and the sidecar."""
    tensors = load_file(str(Path(folder) / "optimizer.safetensors"))
    state: dict[int, dict] = {}
    for key, value in list(tensors.items()) + list(meta["optimizer"]["scalars"].items()):
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["optimizer"]["param_groups"]}


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state_dict into tensors (for safetensors) and JSON-able values."""
    tensors, scalars = {}, {}
    for index, per_param in state_dict["state"].items():
        for name, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}
