"""--eval_mode: how the loss's value and gradient are computed, chosen per machine.

"plain" is the traced tf.function (on CPU, TensorFlow's oneDNN kernels); "xla" the same
function compiled with XLA (jit_compile=True), which L-BFGS's loop calls. Which is
faster depends on the machine (issue 13: on a Zen 3, AVX2 only, XLA took 0.97 s
where plain took 1.29 s at 256 px; benchmarks/README.md has the other machines), on
the TensorFlow version, the image size and the device, so no choice can be made once
for all. "auto" times both on the run's own problem the first time a machine meets a
problem of that kind (a warm-up evaluation each, then TIMED evaluations each,
interleaved), keeps the faster, and caches the decision in CACHE_NAME beside the
weights, keyed by everything the timing depends on (`key_parts`): a new TensorFlow,
another CPU or device, another size bucket or precision is measured again.

XLA needs more memory than plain (memory.XLA_FACTOR): auto does not time or use it
where its estimate exceeds the memory available (a note says so; nothing is cached).

oneDNN on or off (TF_ENABLE_ONEDNN_OPTS) is not chosen here: it can only be set before
TensorFlow loads; benchmarks/eval_mode.py measures it in a child process.
"""

import datetime
import json
import os
import platform
import time

from nst.engine import memory
from nst.files import write_json

CANDIDATES = ("plain", "xla")
CACHE_NAME = "nst_eval_mode.json"
CACHE_FORMAT = 1
TIMED = 2          # timed evaluations per candidate, after one untimed warm-up
SIDE_BUCKET = 64   # px: problems whose longest sides round to the same multiple share


def cpu_info():
  """CPU model, cpuinfo family and model, cores, nominal clock and vector extensions
  (from /proc/cpuinfo; what a measured time depends on)."""
  info = {"cpu_model": platform.processor() or platform.machine() or "unknown",
          "cores": os.cpu_count(), "mhz": None, "family": None, "model": None,
          "avx512f": False, "avx2": False, "fma": False, "avx512_bf16": False,
          "amx_tile": False}
  try:
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
      for line in f:
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "model name":
          info["cpu_model"] = value
        elif key == "cpu MHz" and info["mhz"] is None:
          info["mhz"] = float(value)
        elif key == "cpu family" and info["family"] is None:
          info["family"] = int(value)
        elif key == "model" and info["model"] is None:
          info["model"] = int(value)
        elif key == "flags":
          cpu_flags = value.split()
          for name in ("avx512f", "avx2", "fma", "avx512_bf16", "amx_tile"):
            info[name] = name in cpu_flags
          break
  except OSError:
    pass
  return info


VECTOR_FLAGS = ("avx512f", "avx512_bf16", "amx_tile", "avx2", "fma")


def native_bfloat16(device):
  """(whether `device` computes bfloat16 natively, why in words): a CPU with
  AVX512-BF16 or AMX (oneDNN's bfloat16 kernels; elsewhere bfloat16 is emulated and
  slower than float32), or a GPU of compute capability 8.0 (Ampere) or newer."""
  if str(device).startswith("GPU"):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    gpus = tf.config.list_physical_devices("GPU")
    details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
    capability = tuple(details.get("compute_capability") or (0, 0))
    name = details.get("device_name", "the GPU")
    return capability >= (8, 0), (f"{name}, compute capability "
                                  f"{'.'.join(map(str, capability))}")
  cpu = cpu_info()
  native = [name for name in ("amx_tile", "avx512_bf16") if cpu[name]]
  return bool(native), (f"CPU with {' and '.join(native)}" if native else
                        "CPU without AVX512-BF16 or AMX")


def auto_precision(device):
  """(--precision=auto's choice for `device`: "bfloat16" where it is native, else
  "float32"; the reason in words). Decided from the hardware, not timed: where
  bfloat16 is native it is 1.8x (AVX512-BF16) to 2.7x (AMX) faster per evaluation,
  where it is not it is emulated and slower (benchmarks/README.md)."""
  native, why = native_bfloat16(device)
  return ("bfloat16" if native else "float32"), why


def machine(device):
  """What a decision holds for: the CPU (model, family, model number, vector
  extensions), the TensorFlow version and the device (a GPU by its name)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  cpu = cpu_info()
  name = "CPU"
  gpus = tf.config.list_physical_devices("GPU")
  if gpus and str(device).startswith("GPU"):
    details = tf.config.experimental.get_device_details(gpus[0])
    name = f"GPU {details.get('device_name', gpus[0].name)}"
  return {"cpu_model": cpu["cpu_model"], "cpu_family": cpu["family"],
          "cpu_model_number": cpu["model"],
          "vector": ",".join(f for f in VECTOR_FLAGS if cpu[f]) or "none",
          "tensorflow": tf.__version__, "device": name}


def key_parts(device, shape, precision):
  """Everything a decision is keyed by: the machine, the network's precision and the
  image's longest side rounded to SIDE_BUCKET px."""
  side = max(SIDE_BUCKET, int(round(max(shape[:2]) / SIDE_BUCKET)) * SIDE_BUCKET)
  return dict(machine(device), precision=precision, side=side)


def cache_key(parts):
  return " | ".join(f"{name}={parts[name]}" for name in sorted(parts))


def time_evaluations(problem, position, repeats=TIMED):
  """Seconds of `repeats` value-and-gradient evaluations at `position`, after one
  untimed warm-up (tracing or XLA compilation, oneDNN primitive creation)."""
  return timed(_evaluator(problem, position), repeats)


def time_candidates(problems, position, repeats=TIMED):
  """({mode: seconds of each of `repeats` evaluations}, {mode: the exception of a
  candidate that failed}) for the problems {mode: problem}, each warmed up first
  (untimed: tracing, XLA compilation, or the failure). The timed evaluations are
  interleaved, the order reversed every round (plain, xla, xla, plain, ...), so that
  a change in the machine's speed during the probe (another process, the clock)
  falls on every candidate alike. Plain failing is the run's own failure: raised."""
  evaluators, failed = {}, {}
  for mode, problem in problems.items():
    evaluate = _evaluator(problem, position)
    try:
      evaluate()
    except Exception as e:  # pylint: disable=broad-except
      if mode == "plain":
        raise  # the run itself could not evaluate: not a choice to make
      failed[mode] = e
      continue
    evaluators[mode] = evaluate
  seconds = {mode: [] for mode in evaluators}
  order = list(evaluators)
  for round_ in range(repeats):
    for mode in order if round_ % 2 == 0 else order[::-1]:
      start = time.perf_counter()
      evaluators[mode]()
      seconds[mode].append(time.perf_counter() - start)
  return seconds, failed


def _evaluator(problem, position):
  def evaluate():
    value, gradient = problem.value_and_gradients(position)
    return value.numpy(), gradient.numpy()  # wait for the result
  return evaluate


def timed(evaluate, repeats):
  """Wall seconds of each of `repeats` calls of `evaluate()` after one untimed call
  (tracing, compilation and allocator growth happen in the first). `evaluate` must
  wait for its result (e.g. call .numpy())."""
  evaluate()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    evaluate()
    times.append(time.perf_counter() - start)
  return times


def choose(requested, problem, position, cache_dir, device, log=None):
  """(the problem, evaluated as `requested` or as this machine measured fastest; what
  the record says of it: mode used, whether given, measured or read from the cache,
  the timings, notes).

  position: where timings and the XLA check are made: the run's start [1, D] (array
  or tensor). A candidate that fails (XLA not built in, a compile error) is skipped
  with a one-line note; plain is always possible.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  log = log or (lambda *_: None)
  position = tf.constant(position, tf.float32) if not tf.is_tensor(position) else position
  info = {"requested": requested, "notes": []}
  if requested == "plain":
    return problem.using("plain"), dict(info, used="plain", source="given")
  if requested == "xla":
    try:
      candidate = problem.using("xla")
      time_evaluations(candidate, position, repeats=0)  # compiles, or fails now
      return candidate, dict(info, used="xla", source="given")
    except Exception as e:  # pylint: disable=broad-except
      _note(info, log, f"eval_mode xla failed, using plain: {_one_line(e)}")
      return problem.using("plain"), dict(info, used="plain", source="fallback")

  parts = key_parts(device, problem.shape, problem.settings.precision)
  key = cache_key(parts)
  path = os.path.join(cache_dir, CACHE_NAME)
  decisions = _read(path, info, log)
  hit = decisions.get(key)
  short = None if str(device).startswith("GPU") else _xla_short_of_memory(problem)
  if short and isinstance(hit, dict) and hit.get("mode") == "xla":
    _note(info, log, f"eval_mode auto: using plain, not the cached xla: {short}")
    return problem.using("plain"), dict(info, used="plain", source="fallback",
                                        cache=path, key=parts)
  if isinstance(hit, dict) and hit.get("mode") in CANDIDATES:
    log(f"eval_mode auto: {hit['mode']} (this machine's measurement, cached in {path})")
    return problem.using(hit["mode"]), dict(
        info, used=hit["mode"], source="cache", cache=path, key=parts,
        seconds=hit.get("seconds"), measured_at=hit.get("measured_at"),
        notes=info["notes"] + list(hit.get("notes", [])))

  began = time.perf_counter()
  if short:
    _note(info, log, f"eval_mode auto: {short}")  # not cached: memory may be freed
  seconds, errors = time_candidates(
      {mode: problem.using(mode) for mode in CANDIDATES
       if not (mode == "xla" and short)}, position)
  failed = []
  for mode, error in errors.items():
    failed.append(f"{mode} skipped: {_one_line(error)}")
    _note(info, log, f"eval_mode auto: {failed[-1]}")
  used = min(seconds, key=lambda mode: min(seconds[mode]))
  measured = dict(mode=used, seconds={m: [round(t, 4) for t in ts]
                                      for m, ts in seconds.items()},
                  measured_at=datetime.datetime.now(datetime.timezone.utc)
                  .isoformat(timespec="seconds"),
                  key=parts, notes=failed)
  log(f"eval_mode auto: {used} (" + ", ".join(
      f"{m} {min(ts):.3f} s" for m, ts in seconds.items())
      + " an evaluation, measured now" + ")")
  if not short:
    decisions[key] = measured
    try:
      write_json(path, {"nst_eval_mode": CACHE_FORMAT, "decisions": decisions})
    except OSError as e:
      _note(info, log, f"eval_mode auto: could not cache the decision at {path}: {e}")
  return problem.using(used), dict(
      info, used=used, source="measured", cache=path, key=parts,
      seconds=measured["seconds"], measured_at=measured["measured_at"],
      measure_seconds=round(time.perf_counter() - began, 3))


def _xla_short_of_memory(problem):
  """Why XLA cannot be timed or used for `problem` on this CPU (its estimated peak
  exceeds the host memory available: memory.XLA_FACTOR), or None. The run was checked
  against plain's estimate only, so that auto never refuses what plain can do. (On a
  GPU, TensorFlow's allocator reports running out of GPU memory itself.)"""
  available = memory.available_bytes()
  needed = memory.estimate_bytes(problem.shape, problem.settings.layers(),
                                 problem.settings.num_correction_pairs, "xla")
  if available is None or needed <= available:
    return None
  return (f"xla skipped: at this size it needs about {needed / 2**30:.1f} GiB, "
          f"{available / 2**30:.1f} GiB is available")


def _read(path, info, log):
  """The cached decisions at `path`; {} if none (or unreadable: it is rewritten)."""
  if not os.path.isfile(path):
    return {}
  try:
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
    if data.get("nst_eval_mode") != CACHE_FORMAT or not isinstance(
        data.get("decisions"), dict):
      raise ValueError("not an nst eval-mode cache of this version")
    return data["decisions"]
  except (OSError, ValueError, AttributeError) as e:
    _note(info, log, f"eval_mode auto: ignoring the cache {path} ({_one_line(e)})")
    return {}


def _one_line(error):
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


def _note(info, log, note):
  info["notes"].append(note)
  log(f"note: {note}")
