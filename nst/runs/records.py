"""What a run leaves beside its image: a JSON record, a loss plot, and, when it was
interrupted, a checkpoint to resume from.

For --output=result.png: result.json (record), result_loss.png (plot),
result.ckpt.npz (checkpoint; removed once the run completes).
"""

import dataclasses
import importlib.metadata
import io
import json
import os
import platform

import numpy as np

from nst.errors import UserError, flag
from nst.files import atomic_path, write_json

RECORD_KEYS = ("nst", "versions", "argv", "flags", "preset", "settings", "images",
               "shape", "weights", "device", "seed", "history", "result")


def paths(output):
  stem = os.path.splitext(output)[0]
  return {"image": output, "record": stem + ".json", "plot": stem + "_loss.png",
          "checkpoint": stem + ".ckpt.npz"}


def versions():
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


# The L-BFGS state a run's checkpoint holds (tfp's LBfgsOptimizerResults fields,
# named here so that a checkpoint is checked before TensorFlow is imported).
STATE_ARRAYS = ("converged", "failed", "num_iterations", "num_objective_evaluations",
                "position", "objective_value", "objective_gradient",
                "position_deltas", "gradient_deltas")
_ZIP_MAGIC = b"PK\x03\x04"  # an .npz is a zip archive


def read_checkpoint(path, size=None):
  """(arrays, meta) of the checkpoint at `path`, checked without TensorFlow: a zip
  archive of arrays (never pickles) with its JSON meta and, for a run's own (not a
  coarse-to-fine run's), the L-BFGS state of `size` pixel values (H*W*3). UserError
  in one line if it is not one."""
  if not os.path.isfile(path):
    raise UserError(f"{flag('resume')}: no checkpoint {path!r}; run without "
                    f"{flag('resume')} (a checkpoint is written when a run is "
                    "interrupted)", option="resume")
  try:
    with open(path, "rb") as f:
      if f.read(4) != _ZIP_MAGIC:
        raise ValueError("not an .npz archive")
    with np.load(path, allow_pickle=False) as data:
      arrays = {k: data[k] for k in data.files if k != "__meta__"}
      meta = json.loads(data["__meta__"].tobytes().decode())
    if not isinstance(meta, dict):
      raise ValueError("its meta is not a JSON object")
    if "pyramid" not in meta:  # a coarse-to-fine run's holds its level and start
      if not isinstance(meta.get("history"), list):
        raise ValueError("no run history in it")
      _check_state(arrays, size)
  except Exception as e:  # pylint: disable=broad-except  (zip, npy, JSON: many kinds)
    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    raise UserError(f"{flag('resume')}: {path!r} is not a readable checkpoint "
                    f"({reason}); delete it and run again without {flag('resume')}",
                    option="resume") from None
  return arrays, meta


def _check_state(arrays, size):
  missing = [name for name in STATE_ARRAYS if name not in arrays]
  if missing:
    raise ValueError(f"it lacks {', '.join(missing)}")
  for name in ("position", "objective_gradient", "position_deltas", "gradient_deltas"):
    shape = arrays[name].shape
    if not shape or (size is not None and shape[-1] != size):
      raise ValueError(f"its {name} has shape {shape}, not the run's {size} values")
    if not np.isfinite(arrays[name]).all():
      raise ValueError(f"its {name} is not finite")


def load_checkpoint(path, meta_expected, size=None):
  """(state arrays, meta) from `path`; UserError if missing, corrupt or from another
  run."""
  arrays, meta = read_checkpoint(path, size)
  check_meta(path, meta, meta_expected)
  return arrays, meta


def check_meta(path, meta, meta_expected):
  """UserError unless the checkpoint's `meta` agrees with `meta_expected`."""
  differing = [k for k, v in meta_expected.items() if meta.get(k) != v]
  if differing:
    raise UserError(f"{flag('resume')}: checkpoint {path!r} was made with different "
                    f"{', '.join(differing)}; give the same flags as the interrupted "
                    f"run, or drop {flag('resume')} and pass {flag('overwrite')} to "
                    "start again", option="resume")


def with_entries(record, extra):
  """`record` with the entries of `extra` (what a run built on another adds: its
  levels, its combined style image); a dict entry that both have is merged."""
  for name, value in (extra or {}).items():
    if isinstance(value, dict) and isinstance(record.get(name), dict):
      record[name] = {**record[name], **value}
    else:
      record[name] = value
  return record


def write_record(path, record):
  return write_json(path, validate_record(record))

