"""Spatial control with guidance masks (Gatys, Ecker, Bethge, Hertzmann, Shechtman,
"Controlling Perceptual Factors in Neural Style Transfer", CVPR 2017, section 4).

A guidance mask says where a region is: 1 inside, 0 outside, soft values between.
The photograph has one mask per region (--content_masks); region r takes its style
from artwork r, optionally from a region of it (--style_masks). Every style layer
sees each mask at its own resolution (`layer_mask`):

- "simple": the mask averaged over each layer position's block of pixels (the
  network's own 2x2 average pooling applied to the mask), soft values kept;
- "inside": only positions whose receptive field lies entirely inside the region:
  the mask, thresholded at 0.5 as the authors do, eroded by 1 position at every 3x3
  convolution and kept at a pooled position only when all four inputs are kept.
  Positions beyond the image's border are zero padding, not pixels, so they count as
  inside.

How a mask file is read (`load_mask`): its first channel (the grey value of a
grayscale image, the red of a colour one; alpha ignored) scaled to 0-1, as the
authors' notebooks do; resized (antialiased bilinear) to the image it guides, whose
aspect ratio it must have. A leading "~" means the complement 1 - m of the file's
mask ("~sky.png": everything but the sky) without writing a file; "all" means the
whole image (for --style_masks). Pure numpy.
"""

import os

import numpy as np
from PIL import Image

from nst import config
from nst import image as image_lib
from nst.engine import guidance
from nst.engine import vgg
from nst.errors import UserError, flag

PROPAGATIONS = config.PROPAGATIONS
COMPLEMENT = "~"
WHOLE = "all"
THRESHOLD = guidance.THRESHOLD
layer_mask = guidance.layer_mask  # what the optimisation sees of a mask, per layer
ASPECT_TOLERANCE = 0.02  # relative; a mask of another shape guides the wrong pixels


def parse(spec):
  """(path, complement?) of a mask spec: "sky.png" or "~sky.png"."""
  spec = os.fspath(spec)
  if spec.startswith(COMPLEMENT):
    return spec[len(COMPLEMENT):], True
  return spec, False


def load_mask(spec, shape, option, original_shape=None):
  """The mask of `spec` as float32 0-1 [H, W] at `shape` (H, W); a UserError of
  `option` naming the file when it can't be read, has another aspect ratio than the
  image it guides (of `original_shape`, default `shape`) or covers nothing."""
  if spec == WHOLE:
    return np.ones(shape[:2], np.float32)
  path, complement = parse(spec)
  if not path:
    raise UserError(f"{flag(option)}: {spec!r} names no file; give a mask image (or "
                    "~file for its complement)", option=option)
  # load_image checks existence, readability and format; grey is repeated to RGB.
  mask = image_lib.load_image(path, option)[..., 0] / 255.0
  height, width = original_shape[:2] if original_shape is not None else shape[:2]
  aspect = height / width
  if abs(mask.shape[0] / mask.shape[1] - aspect) > ASPECT_TOLERANCE * aspect:
    raise UserError(
        f"{flag(option)}: {path!r} is {mask.shape[1]}x{mask.shape[0]} px but the image "
        f"it guides is {width}x{height}; a guidance mask must have that image's aspect "
        "ratio (draw it over the image)", option=option)
  if complement:
    mask = 1.0 - mask
  what = (f"{flag(option)}: {spec!r}"
          + (" (the complement of the file)" if complement else ""))
  if not mask.max() > 0:
    raise UserError(f"{what} is all black: its region is empty; a guidance mask is "
                    "white (1) where its region is", option=option)
  mask = resize(mask, shape[:2])
  if not mask.max() > 0:
    raise UserError(f"{what}: its region vanishes at {shape[1]}x{shape[0]} px; "
                    f"raise {flag('image_size')} or give a larger region",
                    option=option)
  return mask


def resize(mask, shape):
  """A 0-1 mask [H, W] resized to (H, W), antialiased bilinear (values stay in 0-1)."""
  if mask.shape[:2] == tuple(shape):
    return mask.astype(np.float32)
  resized = Image.fromarray(mask.astype(np.float32)).resize(
      (shape[1], shape[0]), Image.Resampling.BILINEAR)
  return np.clip(np.asarray(resized, np.float32), 0.0, 1.0)


def check_counts(content_masks, style_masks, num_styles):
  """One artwork per region, one style mask (if any) per artwork; else a UserError."""
  if len(content_masks) != num_styles:
    raise UserError(
        f"{flag('content_masks')} has {len(content_masks)} masks but "
        f"{flag('style_image')} has {num_styles} images; give one style image per "
        "region, in the same order (region r takes the style of image r)",
        option="content_masks")
  if style_masks and len(style_masks) != num_styles:
    raise UserError(
        f"{flag('style_masks')} has {len(style_masks)} masks but {flag('style_image')} "
        f"has {num_styles} images; give one per style image ('all' for a whole "
        "artwork)", option="style_masks")
