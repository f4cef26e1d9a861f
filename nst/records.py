"""What a run leaves beside its image: a JSON record, a loss plot, and, when it was
interrupted, a checkpoint to resume from.

For --output=result.png: result.json (record), result_loss.png (plot),
result.ckpt.npz (checkpoint; removed once the run completes).
"""

import dataclasses
import io
import json
import os
import platform

import numpy as np

from nst.errors import UserError
from nst.files import atomic_path, write_json

RECORD_KEYS = ("nst", "versions", "argv", "flags", "preset", "settings", "images",
               "shape", "weights", "device", "seed", "history", "result")


def paths(output):
  stem = os.path.splitext(output)[0]
  return {"image": output, "record": stem + ".json", "plot": stem + "_loss.png",
          "checkpoint": stem + ".ckpt.npz"}


def versions():
  import importlib.metadata  # pylint: disable=g-import-not-at-top
  found = {"python": platform.python_version()}
  for package in ("nst", "tensorflow", "tensorflow-probability", "keras", "numpy",
                  "imageio", "pillow"):
    try:
      found[package] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      found[package] = None
  return found


def history_entry(iterate):
  """The per-step part of the record: losses (every layer), evaluations, time."""
  return dict(iteration=iterate.iteration, evaluations=iterate.evaluations,
              elapsed=round(iterate.elapsed, 3), **iterate.losses)


def settings_dict(settings):
  """Settings as plain JSON values (tuples become lists)."""
  return json.loads(json.dumps(dataclasses.asdict(settings)))


def make_record(*, argv, flags, preset, settings, images, shape, weights, device,
                history, result, layer_weights=None):
  """The record of a run: `flags` holds every option's resolved value, `preset` the
  preset they started from, `layer_weights` the per-layer weights in use."""
  return {
      "nst": 1, "versions": versions(), "argv": list(argv), "flags": flags,
      "preset": preset, "settings": settings_dict(settings),
      "layer_weights": layer_weights,
      "images": images, "shape": list(shape), "weights": weights, "device": device,
      "seed": settings.seed, "history": history, "result": result,
  }


def validate_record(record):
  """Raise ValueError unless `record` has every part a record must have."""
  missing = [k for k in RECORD_KEYS if k not in record]
  if missing:
    raise ValueError(f"record lacks {missing}")
  for entry in record["history"]:
    for key in ("iteration", "evaluations", "elapsed", "total", "content", "style",
                "content_layers", "style_layers"):
      if key not in entry:
        raise ValueError(f"history entry lacks {key!r}: {entry}")
  for key in ("iterations", "evaluations", "seconds", "stopped", "partial", "image"):
    if key not in record["result"]:
      raise ValueError(f"result lacks {key!r}")
  return record


def save_checkpoint(path, state_arrays, meta):
  """L-BFGS state arrays plus `meta` (settings, shape, history...) in one .npz."""
  buffer = io.BytesIO()
  np.savez(buffer, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8),
           **state_arrays)
  with atomic_path(path) as tmp:
    with open(tmp, "wb") as f:
      f.write(buffer.getvalue())
  return path


def load_checkpoint(path, meta_expected):
  """(state arrays, meta) from `path`; UserError if missing or from another run."""
  if not os.path.isfile(path):
    raise UserError(f"--resume: no checkpoint {path!r}; run without --resume (a "
                    "checkpoint is written when a run is interrupted)")
  try:
    with np.load(path) as data:
      arrays = {k: data[k] for k in data.files if k != "__meta__"}
      meta = json.loads(data["__meta__"].tobytes().decode())
  except Exception as e:  # pylint: disable=broad-except
    raise UserError(f"--resume: cannot read checkpoint {path!r} ({e}); delete it "
                    "and start again") from None
  differing = [k for k, v in meta_expected.items() if meta.get(k) != v]
  if differing:
    raise UserError(f"--resume: checkpoint {path!r} was made with different "
                    f"{', '.join(differing)}; give the same flags as the interrupted "
                    "run, or drop --resume and pass --overwrite to start again")
  return arrays, meta


def write_record(path, record):
  return write_json(path, validate_record(record))

