"""Scale control by combining two artworks (Gatys, Ecker, Bethge, Hertzmann,
Shechtman, "Controlling Perceptual Factors in Neural Style Transfer", CVPR 2017,
scale control): the coarse scale of one artwork with the fine scale of another.

As in the paper: a new style image is synthesised first, starting from the
coarse-scale artwork and matching only the fine-scale artwork's style representation
(Gram matrices) at shallow layers, so the coarse artwork's large structures stay
while its small-scale texture becomes the other's; that image is then the style of
an ordinary transfer. (Matching the two artworks' Gram matrices at different layers
in one transfer, the "naive scale combination" the authors' notebook also has, is
not what this does.)

nst: `--style_image` is the coarse-scale artwork and `--fine_style_image` the
fine-scale one. The synthesis is a run of its own through the one run path
(run.prepare / run.execute): the coarse artwork as the "photograph" and the start
(init=content), alpha=0, beta=1, the fine artwork as the style, style layers
`--fine_style_layers` at equal weights, `--fine_style_steps` L-BFGS iterations; its
network and loss conventions are the transfer's (the preset's: pooling, loss
convention, normalised VGG19, precision, line search, evaluation mode, seed). Its
image (rounded to 8 bits, as written) becomes the transfer's artwork, resized as any
artwork is (to the result's exact size, or by --style_scale). Beside --output=out.png
it writes out_style.png and its record out_style.json (and out_style_loss.png); the
transfer's record names them under "fine_style".

As in the authors' code (leongatys/NeuralImageSynthesis,
ExampleNotebooks/ScaleControl.ipynb, "Combine 2 images with fine and coarse scale"):
- the layers: the style layers up to relu2_1 (relu1_1, relu2_1) at 512 px: nst's
  default. For their 1024 px pass they synthesise again at 1024 px up to relu4_1
  (relu1_1 ... relu4_1) with 200 iterations (a brush stroke twice as many pixels
  wide reaches deeper layers); nst takes the layers as given at every size;
- equal layer weights (ptw / number of layers; ptw = 1e3 with the original VGG19,
  1e5 with the normalised one), with their mean-squared Gram loss (GramMSE: nst's
  `authors` convention). With one loss term only the ratio between layers matters;
- the start: the coarse artwork itself; 500 L-BFGS iterations at 512 px (their
  `transfer_texture` default): nst's default `--fine_style_steps`;
- both artworks resized to the same size (512 px by area, each keeping its aspect):
  nst gives both the longest side the transfer uses its artwork at (the result's, or
  --style_scale times it), each keeping its aspect (style_scale=1 in the synthesis);
- their transfer with the new image is an ordinary one (style relu1_1 ... relu5_1 at
  1e3/N_l^2, content relu4_2, from the photograph, alpha/beta 1e-3): in nst whatever
  the run's other flags say (`--preset=paper --init=content` is theirs).

Colour: the notebook matches both artworks' colours to the photograph first
(pretrans_color=True, match_color 'pca', the symmetric square roots of
--histogram_match=image_analogies) and synthesises from those; nst does so with
--color_control=histogram (either --histogram_match; the synthesis's record then
shows its images as arrays, and the transfer's says color_matched). Otherwise it
synthesises from the artworks as they are, so the new image takes the fine artwork's
palette (colour is part of relu1_1's Gram matrices). `--fine_style_steps=0` skips the
synthesis (the coarse artwork, resized, is the new image; the notebook's
max_pretrans_layer='none').
With --pyramid the new image is synthesised once, at the last level's artwork
size, and every level resizes it as it resizes any artwork (the notebook
synthesises again at each resolution, with deeper layers at 1024 px: give those
with --fine_style_layers). Not with several --style_image or --content_masks: each
is refused with one line.
"""

import dataclasses
import json
import os
import time

import numpy as np

from nst import config
from nst import image as image_lib
from nst import interrupts
from nst import phases
from nst.runs import records
from nst.engine import vgg
from nst.errors import UserError

OPTION_NAMES = ("fine_style_image", "fine_style_layers", "fine_style_steps")
DEFAULT_LAYERS = config.OPTIONS["fine_style_layers"]  # the authors' code at 512 px
DEFAULT_STEPS = config.OPTIONS["fine_style_steps"]    # the authors' code at 512 px
SUFFIX = "_style"                        # out.png -> out_style.png, the new style
# The transfer's options that the synthesis shares: the network, the loss convention
# and how L-BFGS runs, what the weights and normalisation are read from, reporting.
SHARED = ("pooling", "loss_convention", "normalize_vgg", "normalize_images",
          "precision", "line_search", "eval_mode", "num_correction_pairs", "seed",
          "vgg_weights", "report_every", "plot")


@dataclasses.dataclass
class Plan:
  """A transfer's scale combination, checked: the synthesis as a prepared run."""
  run: object          # run.Prepared of the synthesis (never executed if reused)
  layers: tuple
  steps: int
  fine_path: str       # None when the fine artwork was an array
  color_matched: bool = False  # both artworks in the photograph's colours first
  reuse: bool = False  # --resume after the synthesis finished: its written image


def enabled(options):
  """Whether the run combines scales: --fine_style_image given (a path or an array)."""
  value = options.get("fine_style_image")
  if value is None:
    return False
  if isinstance(value, (str, os.PathLike)):
    return bool(os.fspath(value).strip())
  return True


def flag_values(options):
  """The three options as the record's flags show them: None where they do not apply
  (no --fine_style_image), so that the run's argv leaves them out."""
  if not enabled(options):
    return {name: None for name in OPTION_NAMES}
  fine = options["fine_style_image"]
  return {"fine_style_image": (os.fspath(fine) if isinstance(fine, (str, os.PathLike))
                               else "<array>"),
          "fine_style_layers": list(_layers(options["fine_style_layers"])),
          "fine_style_steps": options["fine_style_steps"]}


def _layers(value):
  if isinstance(value, str):
    value = [v.strip() for v in value.split(",") if v.strip()]
  return tuple(value)


def check(options, given, num_styles):
  """UserError for unusable scale-combination options, before any work: a layer
  that is not a VGG19 layer (or twice), no layers, negative iterations, the layers
  or steps given without --fine_style_image, or a combination nst does not make."""
  if not enabled(options):
    stray = [f"--{name}" for name in OPTION_NAMES[1:] if name in given]
    if stray:
      verb = "apply" if len(stray) > 1 else "applies"
      raise UserError(f"{' and '.join(stray)} only {verb} with --fine_style_image "
                      "(the artwork whose fine scale replaces --style_image's); add it "
                      "or drop them")
    return
  layers = _layers(options["fine_style_layers"])
  if not layers:
    raise UserError("--fine_style_layers is empty; name the shallow layers whose Gram "
                    "matrices come from --fine_style_image, e.g. "
                    + ",".join(DEFAULT_LAYERS))
  vgg.check_layers(layers, "--fine_style_layers")
  if len(set(layers)) != len(layers):
    raise UserError(f"--fine_style_layers lists a layer twice: {','.join(layers)}")
  steps = options["fine_style_steps"]
  if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
    raise UserError(f"--fine_style_steps must be a whole number >= 0 (0: the coarse "
                    f"artwork as it is), got {steps!r}")
  if num_styles != 1:
    raise UserError(f"--fine_style_image combines two artworks' scales: give exactly "
                    f"one --style_image (the coarse-scale one), not {num_styles}")
  if options.get("content_masks"):
    raise UserError("--fine_style_image does not combine with --content_masks; drop "
                    "one of them")


def style_output(output):
  """Where the synthesised style image of the run writing `output` goes (PNG)."""
  return None if output is None else os.path.splitext(output)[0] + SUFFIX + ".png"


def synthesis_options(options, side, layers, steps):
  """The options of the synthesis run (over the transfer's preset): the transfer's
  network and optimiser settings, alpha 0, the fine layers at equal weights, from the
  coarse artwork at `side` px with the fine one at the same longest side."""
  shared = {name: options[name] for name in SHARED}
  return dict(shared, alpha=0.0, beta=1.0, style_layers=tuple(layers),
              style_layer_weights="equal", init="content", num_steps=max(steps, 1),
              image_size=side, style_scale=1.0, tv_weight=0.0, color_control="none",
              save_per_step=-1)


def plan(options, given, preset, coarse, fine, output, shape, style_scale,
         photograph=None, loaded=None):
  """The checked Plan of a transfer's scale combination (None without
  --fine_style_image): the synthesis prepared through run.prepare, at the longest
  side the transfer uses its artwork at (`shape`'s, or `style_scale` times it).
  `photograph` (at the run's size), with --color_control=histogram: both artworks
  (`loaded`: their pixels as run.prepare read them) are mapped to its colours before
  the synthesis, as the authors' notebook does."""
  from nst.runs import single as run_lib  # pylint: disable=g-import-not-at-top
  if not enabled(options):
    return None
  fine_path = os.fspath(fine) if isinstance(fine, (str, os.PathLike)) else None
  color_matched = options["color_control"] == "histogram" and photograph is not None
  if color_matched:
    from nst.control import color  # pylint: disable=g-import-not-at-top
    coarse, fine = (np.clip(color.histogram_match(pixels, photograph,
                                                  options["histogram_match"]), 0, 255)
                    for pixels in loaded)
  layers, steps = _layers(options["fine_style_layers"]), options["fine_style_steps"]
  side = max(shape) if style_scale is None else max(1, round(style_scale * max(shape)))
  out = style_output(output)
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
      raise UserError(f"--resume: no checkpoint {main!r} nor "
                      f"{records.paths(out)['checkpoint']!r} (one is written when a "
                      "run is interrupted); run without --resume")
  try:
    # Resuming, the synthesis's files are this run's own: no --overwrite needed.
    prepared = run_lib.prepare(
        coarse, fine, out, preset=preset,
        **synthesis_options(options, side, layers, steps),
        overwrite=options["overwrite"] or resume, resume=style_resume)
  except UserError as e:
    raise UserError(f"combining scales (the synthesis of the new style image from "
                    f"--style_image and --fine_style_image): {e}") from None
  if reuse and run_lib.done_before(prepared) is None:
    raise UserError(f"--resume: the combined style image {out!r} of this run is not "
                    "complete or was made with other settings; drop --resume and pass "
                    "--overwrite to start again")
  return Plan(run=prepared, layers=layers, steps=steps, fine_path=fine_path,
              color_matched=color_matched, reuse=reuse)


def combine_scales(coarse, fine, output=None, *, image_size=None, layers=DEFAULT_LAYERS,
                   num_steps=DEFAULT_STEPS, preset=None, callback=None, log=None,
                   **options):
  """The new style image: `coarse` (its large structures) with `fine`'s Gram
  matrices at `layers` (its small-scale texture); a run.Result whose .image (HxWx3
  uint8, the coarse artwork's aspect, longest side `image_size`) and .record are the
  synthesis run's. `coarse`, `fine`: paths or arrays. `output`: where to write it and
  its record (None: nothing). `options`: further `nst` options (network, seed, ...)
  of `preset`, as for nst.transfer. What `nst --fine_style_image` runs first."""
  from nst.runs import single as run_lib  # pylint: disable=g-import-not-at-top
  resolved = config.resolve_options(preset, options)
  side = config.IMAGE_SIZE if image_size is None else image_size
  run_options = synthesis_options(resolved, side, _layers(layers), num_steps)
  run_options.update({k: v for k, v in options.items() if k not in SHARED})
  if num_steps < 1:
    raise UserError(f"num_steps must be at least 1, got {num_steps}")
  return run_lib.transfer(coarse, fine, output, preset=preset, callback=callback,
                          log=log, **run_options)


def _progress(log, every):
  """The synthesis's progress as `log` lines (the run's callback shows the
  transfer's own iterates only)."""
  def show(it):
    if log is not None and (it.iteration % every == 0 or it.finished):
      log(f"nst: combined style step {it.iteration}/{it.num_steps}  evals "
          f"{it.evaluations}  style {it.losses['style']:.4e}  elapsed "
          f"{it.elapsed:.0f} s")
  return show


def _entry(plan_, record, path):
  """What the transfer's record keeps of the synthesis (no record file when it had
  0 steps: nothing was run)."""
  result = record["result"]
  start = record["history"][0] if record["history"] else {}
  return dict(fine_style_image=plan_.fine_path, color_matched=plan_.color_matched,
              layers=list(plan_.layers),
              num_steps=plan_.steps, shape=record["shape"],
              iterations=result["iterations"], evaluations=result["evaluations"],
              seconds=result["seconds"], stopped=result["stopped"],
              initial_losses=start.get("style_layers"),
              losses=result["losses"].get("style_layers"),
              image=None if path is None else os.path.abspath(path),
              record=None if path is None or plan_.steps == 0 else os.path.abspath(
                  records.paths(path)["record"]),
              reused=plan_.reuse)


def _unrun(prepared, image):
  """The record of a synthesis of 0 steps: the coarse artwork as it is."""
  return dict(shape=list(prepared.shape), history=[],
              result=dict(iterations=0, evaluations=0, seconds=0.0,
                          stopped="num_steps", losses={}, partial=False,
                          image=None if prepared.output is None else
                          os.path.abspath(prepared.output)))


def execute(prepared, callback=None, log=None):
  """Run a prepared transfer with a scale combination (run.execute calls this):
  the synthesis (unless reused), then the transfer with its image as the artwork;
  return the transfer's run.Result, its record holding the synthesis's."""
  from nst.runs import single as run_lib  # pylint: disable=g-import-not-at-top
  plan_ = prepared.scale
  out = plan_.run.output
  began = time.perf_counter()
  phases.enter("synthesis")
  new_style, record = _synthesis(plan_, log)
  entry = _entry(plan_, record, out)
  entry["wall_seconds"] = round(time.perf_counter() - began, 3)
  try:
    result = _transfer(prepared, new_style, callback, log)
  except interrupts.INTERRUPTS as e:
    raise _kept(plan_, run_lib.interrupted(e)) from None
  except run_lib.RunError as e:
    raise _kept(plan_, e) from None
  result.record["fine_style"] = entry
  result.record["images"]["style"] = run_lib.style_source(prepared)
  result.record["images"]["fine_style"] = plan_.fine_path or "<array>"
  if result.paths:
    with interrupts.held() as held:
      phases.enter("write")
      records.write_record(result.paths["record"], result.record)
    result.signal_exit_code = result.signal_exit_code or held.code
  return result


def _synthesis(plan_, log):
  """(the new style image, float RGB 0-255; its record): kept from an interrupted
  run, the coarse artwork itself (0 steps), or synthesised now. RunError if the
  synthesis was interrupted (saying what it kept) or not finite."""
  from nst.runs import single as run_lib  # pylint: disable=g-import-not-at-top
  synthesis = plan_.run
  out = synthesis.output
  if plan_.reuse:
    new_style = image_lib.load_image(out, "--fine_style_image")
    with open(records.paths(out)["record"], encoding="utf-8") as f:
      record = json.load(f)
    if log is not None:
      log(f"nst: combined style image {out} kept from the interrupted run")
    return new_style, record
  if plan_.steps == 0:
    new_style = image_lib.to_uint8(synthesis.content).astype(np.float32)
    if out is not None:
      image_lib.save_image(out, new_style)
    return new_style, _unrun(synthesis, new_style)
  if log is not None:
    height, width = synthesis.shape
    coarse, fine = synthesis.sources["content"], synthesis.sources["style"][0]
    log(f"nst: combining scales: a new style image from {coarse or 'the array'} "
        f"(coarse scale) with the Gram matrices of {fine or 'the array'} at "
        f"{','.join(plan_.layers)} (fine scale), {width}x{height} px, "
        f"{plan_.steps} iterations")
  try:
    result = run_lib.execute(synthesis, callback=_progress(
        log, synthesis.options["report_every"]), log=log)
  except run_lib.RunError as e:
    if not getattr(e, "nothing_written", False):
      raise
    raise run_lib.RunError(
        f"interrupted in the synthesis of the combined style image, while "
        f"{phases.words()}, before its first step; nothing was written",
        e.exit_code) from None
  if result.partial:
    where = (f"; its partial image and checkpoint are beside {out!r}; add --resume "
             "to continue" if out and result.stopped == "interrupted" else "")
    raise run_lib.RunError(
        f"{'interrupted' if result.stopped == 'interrupted' else 'stopped'} while "
        f"synthesising the combined style image (step {result.last.iteration}/"
        f"{plan_.steps}){where}" + ("" if result.stopped == "interrupted" else
                                    run_lib.NON_FINITE_HINT), result.exit_code)
  if result.signal_exit_code:  # came while its outputs were written: they are whole
    raise run_lib.RunError(
        f"interrupted after synthesising the combined style image"
        + (f"; it is kept in {out!r}; add --resume to continue" if out else ""),
        result.signal_exit_code)
  # As written: a resumed run gives the same image.
  return result.image.astype(np.float32), result.record


def _transfer(prepared, new_style, callback, log):
  """The transfer's run.Result, with `new_style` as its artwork."""
  from nst.runs import single as run_lib  # pylint: disable=g-import-not-at-top
  transfer = run_lib.with_style(prepared, new_style)
  main_resume = bool(prepared.output) and prepared.options["resume"] and os.path.isfile(
      prepared.paths["checkpoint"])
  # Coarse-to-fine prepares each level from the request: the new image is its
  # artwork, and the levels have no scale combination of their own.
  request = dict(prepared.request, style=new_style, given={
      name: value for name, value in prepared.request["given"].items()
      if name not in OPTION_NAMES})
  transfer = dataclasses.replace(
      transfer, scale=None, options=dict(transfer.options, resume=main_resume),
      request=request)
  return run_lib.execute(transfer, callback=callback, log=log)


def _kept(plan_, error):
  """`error` (a RunError of the transfer) saying that the combined style image is
  kept when the transfer was interrupted before its first step (--resume keeps it)."""
  from nst.runs import single as run_lib  # pylint: disable=g-import-not-at-top
  out = plan_.run.output
  if (not run_lib.is_interruption(error) or out is None or plan_.steps == 0
      or not getattr(error, "nothing_written", False)):
    return error
  return run_lib.RunError(
      f"interrupted while {phases.words()}, before the transfer's first step; the "
      f"combined style image {out!r} is kept; add --resume to continue",
      error.exit_code)
