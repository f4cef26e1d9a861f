"""A coarse-to-fine run (--pyramid; nst/control/coarse_to_fine.py says what the
levels are): each level a one-scale run of its own (single.py), level k > 1 starting
from level k-1's result resampled; one record holding every level.

Beside --output=out.png, level k leaves out_level<k>.png and its record
out_level<k>.json (and out_level<k>_loss.png with --plot); out.png and out.json are
the last level's image and a record holding every level. An interruption leaves the
level in progress's own checkpoint (out_level<k>.ckpt.npz) and out.ckpt.npz, which
says which level it was and holds that level's starting image; --resume then
continues that level and keeps the finished ones.
"""

import dataclasses
import json
import os
import time

from nst import config
from nst import interrupts
from nst import phases
from nst.control import coarse_to_fine
from nst.errors import UserError, flag
from nst.runs import outputs
from nst.runs import records
from nst.runs import single


def level_paths(output, k):
  """The files of level k of the run writing `output` (records.paths' kinds)."""
  stem, extension = os.path.splitext(output)
  return records.paths(f"{stem}_level{k}{extension}")


def written(output, levels):
  """{path: what} of every level's files (for the check that nothing is written onto
  an input)."""
  paths = {}
  for k in range(1, len(levels) + 1):
    paths.update(single.written(level_paths(output, k)["image"], f"level {k}'s"))
  return paths


def check_outputs(output, levels, resume, overwrite):
  """Besides the run's own check of its output: never overwrite another run's level
  files by accident."""
  if output is None or resume or overwrite:
    return
  for k in range(1, len(levels) + 1):
    for path in level_paths(output, k).values():
      if os.path.exists(path):
        raise UserError(f"{flag('output')}: {path!r} (level {k} of a coarse-to-fine "
                        f"run) exists; pass {flag('overwrite')} to replace it, or "
                        f"choose another {flag('output')}", option="output")


def _meta(prepared):
  """What a coarse-to-fine checkpoint must agree on with the run resuming it."""
  meta = {"settings": records.settings_dict(prepared.settings),
          "shape": list(prepared.shape), "pyramid": prepared.options["pyramid"],
          "content_image": prepared.sources["content"],
          "style_image": ",".join(p or single.ARRAY for p in prepared.sources["style"])}
  meta["settings"].pop("num_steps")  # the last level's; the pyramid says them all
  return meta


def _prepare_level(request, prepared, levels, k, start, resume):
  """The one-scale run of level k: the request's inputs and explicit options, at level
  k's size and iterations, starting from `start` (k > 1), writing level k's files.
  --style_min_positions keeps the style layers of the level's own size, or of the
  result's where that is smaller: a coarse level below 256 px lays the photograph
  out without relu5_1, and a small result's larger level adds positions to the
  result's layers, not layers (relu5_1 there swirls a face away)."""
  level = levels[k - 1]
  given = dict(request.given, pyramid="", image_size=level.size,
               num_steps=level.iterations, overwrite=True, resume=resume)
  if k > 1:
    given["init"] = start
  if prepared.step_dir:
    given["step_dir"] = os.path.join(prepared.step_dir, f"level{k}")
  output = level_paths(prepared.output, k)["image"] if prepared.output else None
  level_prepared = single.prepare(request.content, request.style, output,
                                  preset=prepared.preset,
                                  options=config.resolve_options(prepared.preset, given),
                                  layers_side=max(prepared.shape))
  if k > 1:  # exactly the resampled result, not re-read as an image
    level_prepared = dataclasses.replace(level_prepared, init=start)
  return level_prepared


def _tagged(callback, k, num_levels):
  def tag(iterate):
    iterate.level, iterate.num_levels = k, num_levels
    if callback is not None:
      callback(iterate)
  return tag


def _entry(k, level, record):
  """What the run's record keeps of level k (from the level's own record)."""
  history, result = record["history"], record["result"]
  steps = ("iteration", "evaluations", "elapsed")
  return dict(level=k, size=level.size, shape=record["shape"], num_steps=level.iterations,
              iterations=result["iterations"], evaluations=result["evaluations"],
              seconds=result["seconds"], stopped=result["stopped"],
              partial=result["partial"],
              initial_losses={n: v for n, v in history[0].items() if n not in steps},
              losses=result["losses"], image=result["image"],
              record=None if result["image"] is None else
              records.paths(result["image"])["record"],
              history=history)


def _finished_record(prepared, k):
  """Level k's record, kept by an interrupted run: it must be complete."""
  paths = level_paths(prepared.output, k)
  try:
    with open(paths["record"], encoding="utf-8") as f:
      record = json.load(f)
  except (OSError, ValueError):
    record = None
  if (record is None or record["result"].get("partial", True)
      or not os.path.isfile(paths["image"])):
    raise UserError(f"{flag('resume')}: level {k} of this coarse-to-fine run is not "
                    f"complete ({paths['record']!r}); drop {flag('resume')} and pass "
                    f"{flag('overwrite')} to start again", option="resume")
  return record


def execute(prepared, levels, request, callback=None, log=None, record_extra=None):
  """Run every level of a coarse-to-fine run: `prepared` is the one-scale run of the
  last level (its options, shape and output are the result's), `request` the inputs
  and explicit options each level is prepared from. Returns a single.Result whose
  record holds every level (and `record_extra`'s entries)."""
  out = prepared.paths
  first, start, wall = 1, None, 0.0
  if prepared.options["resume"]:
    arrays, saved = records.load_checkpoint(out["checkpoint"], _meta(prepared))
    first, wall, start = saved["level"], saved["wall_seconds"], arrays.get("start")
  entries = [_entry(k, levels[k - 1], _finished_record(prepared, k))
             for k in range(1, first)]
  began = time.perf_counter()
  # The level in progress and its start: what an interruption saves (one assignment,
  # so that a signal never finds the two out of step).
  now = {"at": (first, start)}
  level_result = None

  def checkpoint():
    level, level_start = now["at"]
    return ({} if level_start is None else {"start": level_start},
            dict(_meta(prepared), level=level,
                 wall_seconds=wall + time.perf_counter() - began))

  def save_checkpoint():
    with interrupts.held():  # already stopping: a second signal waits for it
      outputs.write_checkpoint(out, checkpoint())

  try:
    for k in range(first, len(levels) + 1):
      if k > first:
        phases.enter("level")
      resume_level = bool(out) and k == first and os.path.isfile(
          level_paths(prepared.output, k)["checkpoint"])
      level_prepared = _prepare_level(request, prepared, levels, k, now["at"][1],
                                      resume_level)
      if log is not None:
        height, width = level_prepared.shape
        log(f"nst: level {k}/{len(levels)}: {width}x{height} px, "
            f"{levels[k - 1].iterations} iterations"
            + (" (continued from its checkpoint)" if resume_level else ""))
      level_result = single.execute(level_prepared,
                                    callback=_tagged(callback, k, len(levels)),
                                    log=log)
      entries.append(_entry(k, levels[k - 1], level_result.record))
      if level_result.partial:
        break
      if k < len(levels):
        next_shape = coarse_to_fine.shapes(prepared.content.shape, levels)[k]
        now["at"] = (k + 1, coarse_to_fine.resample(level_result.last.image,
                                                    next_shape))
        if level_result.signal_exit_code:  # came while the level was written
          raise interrupts.exception(level_result.signal_exit_code)
  except single.RunError as e:
    if out and single.is_interruption(e) and (entries or first > 1):
      save_checkpoint()
      raise single.RunError(
          f"interrupted before level {now['at'][0]}'s first step; the finished levels "
          f"are kept and {out['checkpoint']!r} was written; add {flag('resume')} to "
          "continue",
          e.exit_code) from None
    raise
  except interrupts.INTERRUPTS as e:  # between two levels
    code = interrupts.exit_code(e)
    if not out:
      raise single.RunError(f"interrupted at level {now['at'][0]}", code) from None
    save_checkpoint()
    raise single.RunError(
        f"interrupted between levels; {out['checkpoint']!r} was written; add "
        f"{flag('resume')} to continue at level {now['at'][0]}", code) from None

  with interrupts.held() as held:
    phases.enter("write")
    result = _result(prepared, levels, level_result, entries, wall, began, checkpoint,
                     record_extra)
  result.signal_exit_code = result.signal_exit_code or held.code
  return result


def _result(prepared, levels, level_result, entries, wall, began, checkpoint,
            record_extra):
  """execute's Result, its outputs written (the run's image, plot and record, and
  its checkpoint when the last level run was interrupted)."""
  out = prepared.paths
  k = level_result.last.level
  last, stopped = level_result.last, level_result.stopped
  result = single.Result(image=level_result.image, record=None, last=last,
                         stopped=stopped, paths=out,
                         signal_exit_code=level_result.signal_exit_code)
  summary = dict(
      iterations=sum(e["iterations"] for e in entries),
      evaluations=sum(e["evaluations"] for e in entries),
      seconds=round(sum(e["seconds"] for e in entries), 3),
      wall_seconds=round(wall + time.perf_counter() - began, 3),
      losses=last.losses, stopped=stopped, partial=result.partial, level=k,
      levels=len(levels), image=os.path.abspath(out["image"]) if out else None)
  level_record = level_result.record
  history = level_record["history"]
  # The levels set the size and iterations: --image_size and --num_steps are not
  # flags of this run (reproducing_argv leaves them out).
  settings = single.resolved(prepared).settings
  flags = dict(single.flag_values(prepared), image_size=None, num_steps=None)
  result.record = records.make_record(
      # The precision the levels ran at (--precision=auto resolved), as theirs say.
      argv=single.reproducing_argv(dict(flags, precision=settings.precision)),
      flags=flags, preset=prepared.preset,
      settings=settings, images=level_record["images"],
      shape=prepared.shape, weights=level_record["weights"],
      device=level_record["device"], history=history, result=summary,
      layer_weights=level_record["layer_weights"])
  result.record["levels"] = entries
  result.record = records.with_entries(result.record, record_extra)
  if out:
    outputs.write(
        out, result.image, result.record,
        plot=outputs.plot_of(history, prepared.settings,
                             f"{os.path.basename(out['image'])} (level {k}/{len(levels)})")
        if prepared.options["plot"] else None,
        checkpoint=(checkpoint() if stopped == "interrupted" else
                    outputs.KEEP if stopped == "non_finite" else outputs.REMOVE))
  return result
