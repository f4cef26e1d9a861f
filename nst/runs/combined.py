"""Scale control by combining two artworks (nst/control/scale_combination.py says
how, as in the paper and the authors' code): the new style image is synthesised by a
one-scale run of its own, then the transfer (one scale or coarse-to-fine levels) runs
with it as its artwork; the transfer's record holds the synthesis's."""

import dataclasses
import json
import os
import time

import numpy as np

from nst import config
from nst import image as image_lib
from nst import interrupts
from nst import phases
from nst.control import color
from nst.control import scale_combination
from nst.errors import UserError, flag
from nst.runs import levels as levels_lib
from nst.runs import outputs
from nst.runs import records
from nst.runs import single


@dataclasses.dataclass
class Combination:
  """A transfer's scale combination, checked: the synthesis as a prepared run."""
  run: object          # single.Prepared of the synthesis (never executed if reused)
  layers: tuple
  steps: int
  fine_path: str       # None when the fine artwork was an array
  color_matched: bool = False  # both artworks in the photograph's colours first
  reuse: bool = False  # --resume after the synthesis finished: its written image


def prepare(options, preset, coarse, fine, output, shape, style_scale,
            photograph=None, loaded=None):
  """The checked Combination of a transfer's scale combination: the synthesis
  prepared as a one-scale run, at the longest side the transfer uses its artwork at
  (`shape`'s, or `style_scale` times it). `photograph` (at the run's size), with
  --color_control=histogram: both artworks (`loaded`: their pixels as already read)
  are mapped to its colours before the synthesis, as the authors' notebook does."""
  fine_path = os.fspath(fine) if isinstance(fine, (str, os.PathLike)) else None
  color_matched = options["color_control"] == "histogram" and photograph is not None
  if color_matched:
    coarse, fine = (np.clip(color.histogram_match(pixels, photograph,
                                                  options["histogram_match"]), 0, 255)
                    for pixels in loaded)
  layers = scale_combination.layers_of(options["fine_style_layers"])
  steps = options["fine_style_steps"]
  side = max(shape) if style_scale is None else max(1, round(style_scale * max(shape)))
  out = scale_combination.style_output(output)
  resume = options["resume"] and out is not None
  # With --resume: the synthesis was interrupted (its checkpoint): continue it; else
  # it finished (its image and record, checked below): keep it.
  style_resume = (resume and steps > 0
                  and os.path.isfile(records.paths(out)["checkpoint"]))
  reuse = resume and steps > 0 and not style_resume
  if resume and not style_resume:
    main = records.paths(output)["checkpoint"]
    if not os.path.isfile(main) and not (
        reuse and os.path.isfile(records.paths(out)["record"])):
      raise UserError(f"{flag('resume')}: no checkpoint {main!r} nor "
                      f"{records.paths(out)['checkpoint']!r} (one is written when a "
                      f"run is interrupted); run without {flag('resume')}",
                      option="resume")
  try:
    # Resuming, the synthesis's files are this run's own: no --overwrite needed.
    given = dict(scale_combination.synthesis_options(options, side, layers, steps),
                 overwrite=options["overwrite"] or resume, resume=style_resume)
    prepared = single.prepare(coarse, fine, out, preset=preset,
                              options=config.resolve_options(preset, given))
  except UserError as e:
    raise UserError(f"combining scales (the synthesis of the new style image from "
                    f"{flag('style_image')} and {flag('fine_style_image')}): {e}",
                    option="fine_style_image") from None
  if reuse and single.done_before(prepared) is None:
    raise UserError(f"{flag('resume')}: the combined style image {out!r} of this run "
                    "is not complete or was made with other settings; drop "
                    f"{flag('resume')} and pass {flag('overwrite')} to start again",
                    option="resume")
  return Combination(run=prepared, layers=layers, steps=steps, fine_path=fine_path,
                     color_matched=color_matched, reuse=reuse)


def written(output):
  """{path: what} of the combined style image's files."""
  return single.written(scale_combination.style_output(output),
                        "the combined style image's")


def combine_scales(coarse, fine, output=None, *, image_size=None,
                   layers=scale_combination.DEFAULT_LAYERS,
                   num_steps=scale_combination.DEFAULT_STEPS, preset=None,
                   callback=None, log=None, **options):
  """The new style image: `coarse` (its large structures) with `fine`'s Gram
  matrices at `layers` (its small-scale texture); a Result whose .image (HxWx3
  uint8, the coarse artwork's aspect, longest side `image_size`) and .record are the
  synthesis run's. `coarse`, `fine`: paths or arrays. `output`: where to write it and
  its record (None: nothing). `options`: further `nst` options (network, seed, ...)
  of `preset`, as for nst.transfer. What `nst --fine_style_image` runs first."""
  try:
    phases.enter("inputs")
    resolved = config.resolve_options(preset, options)
    side = config.IMAGE_SIZE if image_size is None else image_size
    given = scale_combination.synthesis_options(
        resolved, side, scale_combination.layers_of(layers), num_steps)
    given.update({k: v for k, v in options.items()
                  if k not in scale_combination.SHARED})
    if num_steps < 1:
      raise UserError(f"num_steps must be at least 1, got {num_steps}",
                      option="num_steps")
    prepared = single.prepare(coarse, fine, output, preset=preset,
                              options=config.resolve_options(preset, given))
  except interrupts.INTERRUPTS as e:
    raise single.interrupted(e) from None
  return single.execute(prepared, callback=callback, log=log)


def _progress(log, every):
  """The synthesis's progress as `log` lines (the run's callback shows the
  transfer's own iterates only)."""
  def show(it):
    if log is not None and (it.iteration % every == 0 or it.finished):
      log(f"nst: combined style step {it.iteration}/{it.num_steps}  evals "
          f"{it.evaluations}  style {it.losses['style']:.4e}  elapsed "
          f"{it.elapsed:.0f} s")
  return show


def _entry(combination, record, path):
  """What the transfer's record keeps of the synthesis (no record file when it had
  0 steps: nothing was run)."""
  result = record["result"]
  start = record["history"][0] if record["history"] else {}
  return dict(fine_style_image=combination.fine_path,
              color_matched=combination.color_matched,
              layers=list(combination.layers),
              num_steps=combination.steps, shape=record["shape"],
              iterations=result["iterations"], evaluations=result["evaluations"],
              seconds=result["seconds"], stopped=result["stopped"],
              initial_losses=start.get("style_layers"),
              losses=result["losses"].get("style_layers"),
              image=None if path is None else os.path.abspath(path),
              record=None if path is None or combination.steps == 0 else
              os.path.abspath(records.paths(path)["record"]),
              reused=combination.reuse)


def _unrun(prepared):
  """The record of a synthesis of 0 steps: the coarse artwork as it is."""
  return dict(shape=list(prepared.shape), history=[],
              result=dict(iterations=0, evaluations=0, seconds=0.0,
                          stopped="num_steps", losses={}, partial=False,
                          image=None if prepared.output is None else
                          os.path.abspath(prepared.output)))


def execute(prepared, combination, levels, request, callback=None, log=None):
  """Run a transfer with a scale combination: the synthesis (unless reused), then the
  transfer (`prepared`, one scale, or coarse-to-fine `levels` prepared from
  `request`) with its image as the artwork; return the transfer's Result, its record
  holding the synthesis's."""
  out = combination.run.output
  began = time.perf_counter()
  phases.enter("synthesis")
  new_style, record = _synthesis(combination, log)
  entry = _entry(combination, record, out)
  entry["wall_seconds"] = round(time.perf_counter() - began, 3)
  extra = {"fine_style": entry,
           "images": {"style": single.style_source(prepared),
                      "fine_style": combination.fine_path or single.ARRAY}}
  try:
    return _transfer(prepared, levels, request, new_style, callback, log, extra)
  except interrupts.INTERRUPTS as e:
    raise _kept(combination, single.interrupted(e)) from None
  except single.RunError as e:
    raise _kept(combination, e) from None


def _synthesis(combination, log):
  """(the new style image, float RGB 0-255; its record): kept from an interrupted
  run, the coarse artwork itself (0 steps), or synthesised now. RunError if the
  synthesis was interrupted (saying what it kept) or not finite."""
  synthesis = combination.run
  out = synthesis.output
  if combination.reuse:
    new_style = image_lib.load_image(out, "fine_style_image")
    with open(records.paths(out)["record"], encoding="utf-8") as f:
      record = json.load(f)
    if log is not None:
      log(f"nst: combined style image {out} kept from the interrupted run")
    return new_style, record
  if combination.steps == 0:
    new_style = image_lib.to_uint8(synthesis.content).astype(np.float32)
    if out is not None:
      outputs.write_image(out, new_style)
    return new_style, _unrun(synthesis)
  if log is not None:
    height, width = synthesis.shape
    coarse, fine = synthesis.sources["content"], synthesis.sources["style"][0]
    log(f"nst: combining scales: a new style image from {coarse or 'the array'} "
        f"(coarse scale) with the Gram matrices of {fine or 'the array'} at "
        f"{','.join(combination.layers)} (fine scale), {width}x{height} px, "
        f"{combination.steps} iterations")
  try:
    result = single.execute(synthesis, callback=_progress(
        log, synthesis.options["report_every"]), log=log)
  except single.RunError as e:
    if not getattr(e, "nothing_written", False):
      raise
    raise single.RunError(
        f"interrupted in the synthesis of the combined style image, while "
        f"{phases.words()}, before its first step; nothing was written",
        e.exit_code) from None
  if result.partial:
    where = (f"; its partial image and checkpoint are beside {out!r}; add "
             f"{flag('resume')} to continue" if out and result.stopped == "interrupted"
             else "")
    raise single.RunError(
        f"{'interrupted' if result.stopped == 'interrupted' else 'stopped'} while "
        f"synthesising the combined style image (step {result.last.iteration}/"
        f"{combination.steps}){where}" + ("" if result.stopped == "interrupted" else
                                          single.NON_FINITE_HINT), result.exit_code)
  if result.signal_exit_code:  # came while its outputs were written: they are whole
    raise single.RunError(
        "interrupted after synthesising the combined style image"
        + (f"; it is kept in {out!r}; add {flag('resume')} to continue" if out
           else ""),
        result.signal_exit_code)
  # As written: a resumed run gives the same image.
  return result.image.astype(np.float32), result.record


def _transfer(prepared, levels, request, new_style, callback, log, extra):
  """The transfer's Result, with `new_style` as its artwork."""
  transfer = single.with_style(prepared, new_style)
  main_resume = bool(prepared.output) and prepared.options["resume"] and os.path.isfile(
      prepared.paths["checkpoint"])
  transfer = dataclasses.replace(transfer,
                                 options=dict(transfer.options, resume=main_resume))
  if not levels:
    return single.execute(transfer, callback=callback, log=log, record_extra=extra)
  # Coarse-to-fine prepares each level from the request: the new image is its
  # artwork, and the levels have no scale combination of their own.
  request = dataclasses.replace(request, style=new_style, given={
      name: value for name, value in request.given.items()
      if name not in scale_combination.OPTION_NAMES})
  return levels_lib.execute(transfer, levels, request, callback=callback, log=log,
                            record_extra=extra)


def _kept(combination, error):
  """`error` (a RunError of the transfer) saying that the combined style image is
  kept when the transfer was interrupted before its first step (--resume keeps it)."""
  out = combination.run.output
  if (not single.is_interruption(error) or out is None or combination.steps == 0
      or not getattr(error, "nothing_written", False)):
    return error
  return single.RunError(
      f"interrupted while {phases.words()}, before the transfer's first step; the "
      f"combined style image {out!r} is kept; add {flag('resume')} to continue",
      error.exit_code)
