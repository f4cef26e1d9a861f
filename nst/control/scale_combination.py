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
fine-scale one. The synthesis is a one-scale run of its own (nst/runs/combined.py
runs it, then the transfer; this module holds the options and checks): the coarse artwork as the "photograph" and the start
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

import os

import numpy as np

from nst import config
from nst.errors import UserError, flag

OPTION_NAMES = ("fine_style_image", "fine_style_layers", "fine_style_steps")
DEFAULT_LAYERS = config.OPTIONS["fine_style_layers"]  # the authors' code at 512 px
DEFAULT_STEPS = config.OPTIONS["fine_style_steps"]    # the authors' code at 512 px
SUFFIX = "_style"                        # out.png -> out_style.png, the new style
# The transfer's options that the synthesis shares: the network, the loss convention
# and how L-BFGS runs, what the weights and normalisation are read from, reporting.
SHARED = ("pooling", "loss_convention", "normalize_vgg", "normalize_images",
          "precision", "line_search", "eval_mode", "num_correction_pairs", "seed",
          "vgg_weights", "report_every", "plot")


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
          "fine_style_layers": list(layers_of(options["fine_style_layers"])),
          "fine_style_steps": options["fine_style_steps"]}


def layers_of(value):
  """The layers of a --fine_style_layers value (a comma string or a sequence), parsed
  as every option is (config.parse_option)."""
  return config.parse_option("fine_style_layers", value)


def check(options, given, num_styles):
  """UserError for unusable scale-combination options, before any work: a layer
  that is not a VGG19 layer (or twice), no layers, negative iterations, the layers
  or steps given without --fine_style_image, or a combination nst does not make."""
  if not enabled(options):
    stray = [name for name in OPTION_NAMES[1:] if name in given]
    if stray:
      verb = "apply" if len(stray) > 1 else "applies"
      raise UserError(f"{' and '.join(map(flag, stray))} only {verb} with "
                      f"{flag('fine_style_image')} (the artwork whose fine scale "
                      f"replaces {flag('style_image')}'s); add it or drop them",
                      option=stray[0])
    return
  layers = layers_of(options["fine_style_layers"])
  if not layers:
    raise UserError(f"{flag('fine_style_layers')} is empty; name the shallow layers "
                    f"whose Gram matrices come from {flag('fine_style_image')}, e.g. "
                    + ",".join(DEFAULT_LAYERS), option="fine_style_layers")
  config.check_layer_list(layers, "fine_style_layers")
  steps = options["fine_style_steps"]
  if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
    raise UserError(f"{flag('fine_style_steps')} must be a whole number >= 0 (0: the "
                    f"coarse artwork as it is), got {steps!r}",
                    option="fine_style_steps")
  if num_styles != 1:
    raise UserError(f"{flag('fine_style_image')} combines two artworks' scales: give "
                    f"exactly one {flag('style_image')} (the coarse-scale one), not "
                    f"{num_styles}", option="fine_style_image")
  if options.get("content_masks"):
    raise UserError(f"{flag('fine_style_image')} does not combine with "
                    f"{flag('content_masks')}; drop one of them",
                    option="fine_style_image")


def style_output(output):
  """Where the synthesised style image of the run writing `output` goes (PNG)."""
  return None if output is None else os.path.splitext(output)[0] + SUFFIX + ".png"


def synthesis_options(options, side, layers, steps):
  """The options of the synthesis run (over the transfer's preset): the transfer's
  network and optimiser settings, alpha 0, the fine layers at equal weights, from the
  coarse artwork at `side` px with the fine one at the same longest side (all of
  them: they choose the scale, so --style_min_positions leaves none out)."""
  shared = {name: options[name] for name in SHARED}
  return dict(shared, alpha=0.0, beta=1.0, style_layers=tuple(layers),
              style_layer_weights="equal", style_min_positions=0,
              init="content", num_steps=max(steps, 1),
              image_size=side, style_scale=1.0, tv_weight=0.0, color_control="none",
              save_per_step=-1)
