"""`nst`: stylise a photograph with an artwork (Gatys, Ecker & Bethge, CVPR 2016).

With no image flags it runs on two sample images that scikit-image ships: Chelsea the
cat (CC0) in the style of an immunohistochemistry micrograph (no known copyright
restrictions), so a fresh install can be tried offline.
"""

import os
import sys

from absl import flags

from nst import config
from nst import image as image_lib
from nst import interrupts
from nst.cli import common as entry
from nst.cli import serve_flags
from nst.control import color
from nst.control import spatial
from nst.engine import vgg
from nst.engine import weights as weights_lib
from nst.errors import UserError
from nst.live import serve as serve_lib
from nst.runs import plan as run_lib

_PRESET_VALUES = config.resolve_options()  # the default preset's values, for --help
SAMPLE_CONTENT = "chelsea.png"
SAMPLE_STYLE = "ihc.png"


def _list(values):
  return None if values is None else ",".join(str(v) for v in values)


def _default(name):
  value = _PRESET_VALUES[name]
  return _list(value) if isinstance(value, (list, tuple)) else value


flags.DEFINE_enum(
    "preset", config.DEFAULT_PRESET, list(config.PRESETS),
    "A group of defaults (see README, Presets): default (the photograph kept under a "
    "clearly transferred style, at any size), paper (the paper's conventions and "
    "ratios), original (exactly the TF1 reimplementation nst replaces). Flags given "
    "explicitly override the preset's values; --help shows the default preset's.")
_CONTENT_IMAGE = flags.DEFINE_string(
    "content_image", None,
    f"Photograph (JPEG or PNG). Default: scikit-image's sample {SAMPLE_CONTENT}.")
_STYLE_IMAGE = flags.DEFINE_list(
    "style_image", None,
    f"Artwork (JPEG or PNG), or a comma list of artworks whose styles are blended "
    f"(--style_blend_weights). Default: scikit-image's sample {SAMPLE_STYLE}.")
_OUTPUT = flags.DEFINE_string(
    "output", config.OUTPUT, "Result image; format by extension (.png, .jpg).")
flags.DEFINE_integer(
    "image_size", _default("image_size"),
    "Longest side of the result in px; 0 keeps the content image's size.")
flags.DEFINE_list("content_layers", _default("content_layers"), "Content layers.")
flags.DEFINE_list(
    "content_layer_weights", _default("content_layer_weights"),
    "One weight per content layer. Default: equal, summing to 1.")
flags.DEFINE_list("style_layers", _default("style_layers"), "Style layers.")
flags.DEFINE_list(
    "style_layer_weights", _default("style_layer_weights"),
    "One weight per style layer (w_l), or 'equal' (summing to 1) or 'authors' "
    "(1e3/N_l^2, N_l the layer's feature maps, as in the authors' code).")
flags.DEFINE_list(
    "style_blend_weights", _default("style_blend_weights"),
    "One weight per --style_image; the Gram targets are sum_i w_i A_l(i). "
    "Default: equal, summing to 1.")
flags.DEFINE_float(
    "style_scale", _default("style_scale"),
    "The artwork's longest side relative to the result's (aspect kept). Default: "
    "the artwork is rescaled to the result's exact size, as the original did.")
flags.DEFINE_list(
    "content_masks", _default("content_masks"),
    "Spatial control (Gatys et al. 2017): a comma list of guidance masks of the "
    "photograph, one per region (white = in the region; ~file: the file's complement); "
    "region r takes the style of --style_image r. Default: none.")
flags.DEFINE_list(
    "style_masks", _default("style_masks"),
    "With --content_masks: one mask per --style_image, the region of that artwork to "
    "take the style from ('all' or ~file as for --content_masks). Default: whole "
    "artworks.")
flags.DEFINE_enum(
    "mask_propagation", _default("mask_propagation"), list(spatial.PROPAGATIONS),
    "How a mask reaches each layer: simple (averaged to the layer's size) or inside "
    "(only positions whose receptive field lies wholly inside the region).")
flags.DEFINE_float(
    "alpha", _default("alpha"),
    "Content loss weight (the paper's alpha). The default preset's, shown below, is "
    f"what --style_strength={config.DEFAULT_STYLE_STRENGTH} gives.")
flags.DEFINE_float(
    "style_strength", _default("style_strength"),
    "How much of the artwork, 0..1, in place of --alpha: alpha = 10^-(1 + 4 s) (beta "
    f"1): 0 a faint filter, 0.25 light, {config.DEFAULT_STYLE_STRENGTH} the default's, "
    "0.75 strong, 1 mostly the artwork (see README, Presets).")
flags.DEFINE_integer(
    "style_min_positions", _default("style_min_positions"),
    "Leave out the style layers whose feature map spans fewer positions than this "
    "along the longest side of the image optimised (each coarse-to-fine level its "
    "own); 0 keeps every layer. The default preset's 16 keeps relu5_1 from 256 px up "
    "and relu4_1 from 128 px up: with fewer, their Gram matrices paint the artwork's "
    "composition over the photograph (see README, Presets).")
flags.DEFINE_float("beta", _default("beta"), "Style loss weight.")
flags.DEFINE_float(
    "tv_weight", _default("tv_weight"),
    "Total-variation weight (mean squared difference of neighbouring pixels).")
flags.DEFINE_integer("num_steps", _default("num_steps"), "L-BFGS iterations.")
flags.DEFINE_string(
    "pyramid", _default("pyramid"),
    "Coarse-to-fine levels as size:iterations, sizes increasing (longest side in px, "
    "as --image_size), e.g. 256:300,512:100, or relative to --image_size, e.g. "
    "0.5x:300,1x:100: each level starts from the previous one's result upsampled "
    "(downsampled where a level is smaller; see README, Scale control). Replaces "
    "--num_steps (and --image_size, given in px); --pyramid= (empty) runs one scale. "
    "A preset's relative levels give way to an explicit --num_steps.")
flags.DEFINE_string(
    "small_pyramid", _default("small_pyramid"),
    "Levels for a result smaller than each of them, where neither --pyramid nor "
    "--num_steps is given (nor --image_size=0): size:iterations levels then "
    "1x:iterations, the result's "
    f"size. The default preset's {config.PRESETS['default']['small_pyramid']} lays a "
    f"small picture out at {config.SMALL_RESULT_START} px (with the style layers of "
    "its own size, each over more positions), then finishes it at its own size (see "
    "README, Presets); --small_pyramid= (empty): none.")
flags.DEFINE_string(
    "fine_style_image", _default("fine_style_image"),
    "Scale control (Gatys et al. 2017): an artwork whose fine scale replaces "
    "--style_image's. A new style image is synthesised from --style_image (its coarse "
    "scale kept) with this artwork's Gram matrices at --fine_style_layers, written "
    "beside --output as <name>_style.png, and used as the style. Default: none.")
flags.DEFINE_list(
    "fine_style_layers", _default("fine_style_layers"),
    "With --fine_style_image: the shallow layers whose Gram matrices come from it "
    "(equal weights; the authors' code at 512 px: relu1_1,relu2_1).")
flags.DEFINE_integer(
    "fine_style_steps", _default("fine_style_steps"),
    "With --fine_style_image: L-BFGS iterations of the new style image's synthesis; "
    "0 uses --style_image as it is.")
flags.DEFINE_enum(
    "color_control", _default("color_control"), list(color.COLOR_CONTROLS),
    "Keep the photograph's colours (Gatys et al. 2017): luminance (transfer on "
    "luminance, then the photograph's I and Q) or histogram (the artwork's colours "
    "matched to the photograph's first).")
flags.DEFINE_enum(
    "histogram_match", _default("histogram_match"),
    list(color.HISTOGRAM_MATCHES),
    "How --color_control=histogram and --init=content_recolored map colours: "
    "symmetric square roots of the covariances (as the authors' notebooks) or "
    "Cholesky factors.")
flags.DEFINE_string(
    "init", _default("init"),
    f"Starting image: {'|'.join(config.INIT_CHOICES)} or the path of an image. "
    "random is uniform noise in 0-255; white is a plain white image; "
    "content_recolored is the photograph in the artworks' colours (their pixels' "
    "mean and covariance).")
flags.DEFINE_integer(
    "save_per_step", _default("save_per_step"),
    "Save the current image every N iterations to --step_dir; -1: never.")
flags.DEFINE_string(
    "step_dir", _default("step_dir"),
    "Folder for intermediate images. Default: <output name>_steps beside --output.")
flags.DEFINE_enum(
    "pooling", _default("pooling"), list(vgg.POOLING_CHOICES),
    "VGG19 pooling; the paper uses avg.")
flags.DEFINE_enum(
    "loss_convention", _default("loss_convention"), list(config.LOSS_CONVENTIONS),
    "paper: 1/2 sum((F-P)^2) and 1/(4N^2M^2) sum((G-A)^2), as printed; authors: "
    "mean((F-P)^2) and mean((G/M-A/M)^2), as in the authors' code (see README).")
flags.DEFINE_bool(
    "normalize_vgg", _default("normalize_vgg"),
    "Use the paper's normalised VGG19: each filter rescaled to mean activation 1 over "
    "--normalize_images (computed once, cached beside the weights; see README).")
flags.DEFINE_string(
    "normalize_images", _default("normalize_images"),
    "Folder (or comma list) of natural images for --normalize_vgg. Default: the six "
    "photographs scikit-image installs with itself.")
flags.DEFINE_enum(
    "line_search", _default("line_search"), list(config.LINE_SEARCHES),
    "unit_first: try L-BFGS's natural step, else Hager-Zhang (about 1.05 evaluations "
    "an iteration); hager_zhang: exactly tfp's lbfgs_minimize (about 3).")
flags.DEFINE_enum(
    "precision", _default("precision"), list(config.PRECISIONS),
    "Network compute precision: auto (bfloat16 where the device computes it natively: "
    "CPUs with AVX512-BF16 or AMX, GPUs of compute capability 8.0+; else float32), "
    "float32 or bfloat16 (L-BFGS state, Gram matrices and losses stay float32).")
flags.DEFINE_integer(
    "seed", _default("seed"),
    "Seed of the random init (same seed, same result on CPU).")
flags.DEFINE_integer(
    "num_correction_pairs", _default("num_correction_pairs"),
    "L-BFGS history length (correction pairs kept).")
flags.DEFINE_string(
    "vgg_weights", _default("vgg_weights"),
    f"Path of {weights_lib.FILENAME}. Default: vgg/ (or $NST_VGG_DIR), then "
    "Keras's cache.")
flags.DEFINE_bool(
    "overwrite", _default("overwrite"),
    "Replace an existing --output (and its record and plot).")
flags.DEFINE_bool(
    "resume", _default("resume"),
    "Continue an interrupted run from the checkpoint beside --output (same flags).")
flags.DEFINE_bool(
    "plot", _default("plot"),
    "Write a loss-curve plot (<output name>_loss.png) beside --output.")
flags.DEFINE_enum(
    "eval_mode", _default("eval_mode"), list(config.EVAL_MODES),
    "How the loss and its gradient are computed: plain (a traced tf.function), xla "
    "(compiled with XLA), or auto: whichever this machine measured faster on the "
    "first run of this size (a few seconds, once; cached beside the weights).")
flags.DEFINE_integer(
    "report_every", _default("report_every"),
    "Iterations between progress lines (--save_per_step sets it when given).")
# Watching a run live (serve.py): --serve, --serve_port, --serve_host, --serve_linger.
serve_flags.define(flags)

def given_options():
  """The run options given explicitly (command line or --flagfile), as run values:
  parsed as manifests and the Python API's options are (config.check_options)."""
  given = {}
  for name in config.OPTIONS:
    if flags.FLAGS[name].present:
      value = flags.FLAGS[name].value
      # A list flag's items as typed (a comma string), so that a message shows them so.
      given[name] = ",".join(value) if isinstance(value, list) else value
  return config.check_options(given)


def _duration(seconds):
  if seconds is None:
    return "?"
  seconds = int(round(seconds))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def progress_line(it):
  level = f"level {it.level}/{it.num_levels} " if it.level is not None else ""
  return (f"{level}step {it.iteration:>{len(str(it.num_steps))}}/{it.num_steps}  "
          f"evals {it.evaluations:>5}  content {it.losses['content']:.4e}  "
          f"style {it.losses['style']:.4e}  total {it.losses['total']:.4e}  "
          f"elapsed {_duration(it.elapsed)}  eta {_duration(it.eta)}")


class _Progress:
  """A tqdm bar on a terminal; one plain line per report otherwise (logs, CI)."""

  def __init__(self, num_steps, report_every):
    self.report_every = report_every
    self.num_steps = num_steps
    self.bar = None
    self.level = None

  def show(self, it):
    if it.level != self.level:  # a coarse-to-fine level: a bar of its own
      self.close()
      self.bar, self.level, self.num_steps = None, it.level, it.num_steps
    if self.bar is None and sys.stdout.isatty():
      from tqdm import tqdm  # pylint: disable=g-import-not-at-top
      self.bar = tqdm(total=self.num_steps, initial=it.iteration, unit="it",
                      dynamic_ncols=True,
                      desc=None if it.level is None else
                      f"level {it.level}/{it.num_levels}")
    if self.bar is not None:
      self.bar.update(it.iteration - self.bar.n)
      self.bar.set_postfix_str(
          f"evals {it.evaluations} content {it.losses['content']:.3e} "
          f"style {it.losses['style']:.3e} total {it.losses['total']:.3e}")
    elif it.iteration % self.report_every == 0 or it.finished:
      print(progress_line(it), flush=True)

  def close(self):
    if self.bar is not None:
      self.bar.close()


def run(prepared, live=None):
  """Run a prepared problem with progress on stdout (and on `live`, a serve.Live,
  when given); return the exit code."""
  device = run_lib.device()
  prepared = run_lib.resolved(prepared)
  settings, options = prepared.settings, prepared.options
  height, width = prepared.shape
  styles = ",".join(p or run_lib.ARRAY for p in prepared.sources["style"])
  steps = (f"levels {options['pyramid']} (size:iterations)"
           if options["pyramid"] else f"{settings.num_steps} L-BFGS iterations")
  if prepared.combination is not None:
    styles += (f" (coarse scale; fine scale from "
               f"{prepared.combination.fine_path or run_lib.ARRAY})")
  print(f"nst: {prepared.sources['content']} in the style of {styles}, "
        f"{width}x{height} px, {steps}, "
        f"preset {prepared.preset}, alpha={settings.alpha:g} beta={settings.beta:g}, "
        f"{settings.precision}{' (auto)' if options['precision'] == 'auto' else ''}, "
        f"on {device}", flush=True)
  save_every = options["save_per_step"]
  progress = _Progress(settings.num_steps,
                       save_every if save_every > 0 else options["report_every"])
  update = serve_lib.updater(live, prepared) if live is not None else None

  def show(it):
    if update is not None:
      update(it)  # before the progress line: whoever reads it sees this step
    progress.show(it)
  try:
    result = run_lib.execute(prepared, callback=show, log=print)
  except run_lib.RunError as e:
    progress.close()
    print(f"nst: {e}", file=sys.stderr)
    return e.exit_code
  finally:
    progress.close()
  with interrupts.held() as held:  # the run is written: a signal now loses nothing
    code = _report(result)
  if held.code and not result.interrupted:
    print("nst: interrupted after the run; its outputs are complete",
          file=sys.stderr)
  return code or held.code


def _report(result):
  """The lines that say how `result` ended; its exit code."""
  last, out = result.last, result.paths
  level = ("" if last.level is None else
           f" of level {last.level}/{last.num_levels}")
  if result.stopped == "interrupted":
    print(f"\nnst: interrupted at step {last.iteration}/{last.num_steps}{level}; "
          f"partial image "
          f"{os.path.abspath(out['image'])}, checkpoint "
          f"{os.path.abspath(out['checkpoint'])}; add --resume to the same command to "
          "finish it", file=sys.stderr)
    return result.exit_code
  if result.interrupted:  # finished, and a signal came while it was written
    print(f"nst: interrupted while writing the outputs; they were completed first: "
          f"{os.path.abspath(out['image'])} and its record "
          f"{os.path.abspath(out['record'])}", file=sys.stderr)
    return result.exit_code
  if result.stopped == "non_finite":
    print(f"nst: stopped at step {last.iteration + 1}{level}: the loss or its gradient "
          f"is not "
          f"finite; kept the last finite image (step {last.iteration}) in "
          f"{os.path.abspath(out['image'])}" + run_lib.NON_FINITE_HINT, file=sys.stderr)
    return result.exit_code
  if result.stopped == "converged":
    print(f"nst: converged after {last.iteration} iterations (zero gradient or step)")
  elif result.stopped == "line_search":
    print(f"nst: stopped after {last.iteration} iterations: the line search found no "
          "further decrease")
  per_layer = ", ".join(f"{layer} {value:.4e}" for layer, value in
                        {**last.losses["content_layers"],
                         **last.losses["style_layers"]}.items())
  print(f"nst: per-layer losses: {per_layer}")
  summary = result.record["result"]
  print(f"nst: {summary['iterations']} iterations, {summary['evaluations']} "
        f"evaluations in {summary['seconds']:.1f} s"
        + (f" over {last.num_levels} levels" if last.level is not None else "")
        + f"; wrote {os.path.abspath(out['image'])} and its record "
        f"{os.path.abspath(out['record'])}", flush=True)
  return 0


def prepare():
  """Check every flag and input before any slow work; return the prepared run."""
  content = _CONTENT_IMAGE.value or image_lib.sample_path(SAMPLE_CONTENT)
  style = _STYLE_IMAGE.value or [image_lib.sample_path(SAMPLE_STYLE)]
  return run_lib.prepare(content, style, _OUTPUT.value, preset=flags.FLAGS.preset,
                         **given_options())


def main():
  live = None
  try:
    prepared = prepare()
    live = serve_flags.from_flags(flags.FLAGS, "nst")
    if live is not None:
      serve_lib.begin_run(live, prepared)
    code = run(prepared, live)
  except UserError as e:
    _fail(str(e))
  except interrupts.INTERRUPTS as e:  # before the run's own handling (its phases)
    stopped = run_lib.interrupted(e)
    print(f"nst: {stopped}", file=sys.stderr)
    sys.exit(stopped.exit_code)
  if live is not None:
    live.linger(flags.FLAGS.serve_linger)
  sys.exit(code)


def _fail(message):
  entry.fail("nst", message)


def run_main():
  entry.run("nst", main, __name__, serve_flags.__name__)


if __name__ == "__main__":
  run_main()
