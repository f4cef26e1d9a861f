"""Reading, resizing and writing images as float32 RGB arrays in 0-255, shape [H, W, 3]."""

import importlib.resources
import math
import os
import re
import warnings

import imageio.v3 as iio
import numpy as np
from PIL import Image

from nst.errors import UserError, flag, subject
from nst.files import atomic_path, ensure_writable_dir

# The most pixels an input image may have: its header is checked before decoding
# (8192x8192; a larger JPEG is decoded at a reduced scale where the run allows it).
MAX_PIXELS = 8192 * 8192

EXTENSIONS = (".png", ".jpg", ".jpeg")


def sample_path(name):
  """The installed path of one of scikit-image's sample photographs (e.g.
  "chelsea.png"): images every install has, for the demo and the defaults."""
  return str(importlib.resources.files("skimage") / "data" / name)


def load_image(path, option=None, need=None, label=None):
  """Read a JPEG or PNG as float32 RGB 0-255; grayscale is expanded, alpha dropped,
  CMYK converted, 16-bit scaled.

  The header is read first: a file of more than MAX_PIXELS is refused before
  its pixels are decoded, except a JPEG when `need` (the longest side in px the run
  uses it at) is given: it is decoded at the smallest 1/2, 1/4 or 1/8 scale that
  still covers `need` (libjpeg's DCT scaling), if that fits. Raises UserError, of
  `option`, naming the file and `label` (else the option's flag, else "image") for
  anything that is not a readable image.
  """
  path = os.fspath(path)
  name = subject(option, label) if option or label else "image"
  if not os.path.exists(path):
    raise UserError(f"{name}: no such file {path!r}; check the path", option=option)
  if os.path.isdir(path):
    raise UserError(f"{name}: {path!r} is a directory; give an image file",
                    option=option)
  try:
    with warnings.catch_warnings():
      # Pillow warns (two raw lines) of images over its own limit; ours is lower and
      # is checked below, before any decoding.
      warnings.simplefilter("ignore", Image.DecompressionBombWarning)
      with Image.open(path) as im:
        im = _within_cap(im, path, name, option, need)
        pixels = _pixels(im, path, name, option)
  except UserError:
    raise
  except Image.DecompressionBombError as e:  # over twice Pillow's limit: no size
    raise UserError(f"{name}: {path!r} declares {_declared(e)}, more than nst reads "
                    f"({_cap_text()}); downscale it first", option=option) from None
  except Exception as e:  # pylint: disable=broad-except  (Pillow raises many kinds)
    while e.__cause__ is not None or e.__context__ is not None:  # Pillow's own words
      e = e.__cause__ or e.__context__
    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    raise UserError(f"{name}: cannot read {path!r} as an image ({reason}); "
                    "give a JPEG or PNG file", option=option) from None
  return channels_to_rgb(pixels, f"{name}: {path!r}", option)


def _cap_text():
  side = int(math.isqrt(MAX_PIXELS))
  return f"at most {MAX_PIXELS / 1e6:.1f} megapixels, e.g. {side}x{side}"


def _declared(error):
  found = re.search(r"\((\d+) pixels\)", str(error))
  return (f"{int(found.group(1)) / 1e6:.0f} megapixels" if found
          else "an absurd size (a decompression bomb)")


def _within_cap(im, path, name, option, need):
  """`im` (opened, not decoded) if its size is within MAX_PIXELS, a JPEG
  drafted down to fit when `need` allows it; else UserError with the sizes."""
  width, height = im.size
  if width * height <= MAX_PIXELS:
    return im
  if need and im.format == "JPEG":
    im.draft(im.mode, (need, need))  # the smallest DCT scale still >= need
    if im.size[0] * im.size[1] <= MAX_PIXELS:
      return im
  raise UserError(f"{name}: {path!r} is {width}x{height} px "
                  f"({width * height / 1e6:.0f} megapixels), more than nst reads "
                  f"({_cap_text()}); downscale it first", option=option)


# Pillow modes read as they are (8 bits a channel, gray or colour, alpha dropped
# later) and those converted to RGB first.
_DIRECT_MODES = ("L", "LA", "RGB", "RGBA")
_CONVERTED_MODES = {"1": "L", "P": "RGB", "PA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB",
                    "RGBX": "RGB", "RGBa": "RGBA", "La": "LA", "LAB": "RGB",
                    "HSV": "RGB"}
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def _pixels(im, path, name, option):
  """An opened image's pixels as float32 0-255, 2-D or H x W x channels.

  CMYK (and YCCK, which libjpeg delivers as CMYK) goes through Pillow's convert,
  which undoes Adobe's inverted CMYK; a 4th channel is never taken for alpha.
  """
  mode = im.mode
  if mode in _CONVERTED_MODES:
    im, mode = im.convert(_CONVERTED_MODES[mode]), _CONVERTED_MODES[mode]
  if mode in _DIRECT_MODES:
    return np.asarray(im).astype(np.float32)
  if mode in _SIXTEEN_BIT_MODES:  # 16-bit gray: 0-65535 to 0-255
    return np.asarray(im).astype(np.float32) * np.float32(255.0 / 65535)
  raise UserError(f"{name}: {path!r} has pixels of Pillow mode {mode!r} ("
                  f"{_MODE_NAMES.get(mode, 'not an 8- or 16-bit gray or colour image')}"
                  "), which nst does not read; save it as an 8-bit RGB PNG or JPEG",
                  option=option)


_MODE_NAMES = {"I": "32-bit integers", "F": "32-bit floats"}


def to_rgb(image, what="image", option=None):
  """An array given through the API (2-D gray, gray+alpha, RGB or RGBA) -> float32
  RGB in 0-255. Integers are taken at face value and must lie in 0-255 (whatever
  their type: an int64 array of 0-255 is not scaled by int64's range); floats in
  0-1 are scaled to 0-255, floats above 1 taken as 0-255; bools are 0 or 255.
  A UserError names `what` and is of `option` (the one that gave the array)."""
  if image.dtype == bool:
    image = image.astype(np.float32) * np.float32(255.0)
  elif np.issubdtype(image.dtype, np.integer):
    if image.size and (image.min() < 0 or image.max() > 255):
      raise UserError(f"{what} holds integers in {image.min()}-{image.max()}, outside "
                      "0-255; give pixel values in 0-255 (e.g. a 16-bit image // 257)",
                      option=option)
    image = image.astype(np.float32)
  elif np.issubdtype(image.dtype, np.floating):
    scale = 255.0 if image.size and image.max() <= 1.0 else 1.0
    image = image.astype(np.float32) * np.float32(scale)
  else:
    raise UserError(f"{what} has values of type {image.dtype}; give numbers in 0-255 "
                    "(or floats in 0-1)", option=option)
  return channels_to_rgb(image, what, option)


def channels_to_rgb(image, what="image", option=None):
  """A float 0-255 2-D gray, gray+alpha, RGB or RGBA array -> H x W x 3 float32."""
  image = np.asarray(image, np.float32)
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3 or image.shape[-1] not in (1, 2, 3, 4) or min(image.shape[:2]) < 1:
    raise UserError(f"{what}: unsupported image shape {image.shape}; "
                    "give a grayscale or colour JPEG or PNG", option=option)
  if image.shape[-1] in (2, 4):  # drop alpha
    image = image[..., :-1]
  if image.shape[-1] == 1:
    image = np.repeat(image, 3, axis=-1)
  return np.ascontiguousarray(image)


def scaled_shape(shape, image_size):
  """(H, W) with the longest side set to `image_size`, aspect kept; 0 keeps `shape`."""
  height, width = shape[:2]
  if image_size == 0:
    return height, width
  scale = image_size / max(height, width)
  return max(1, round(height * scale)), max(1, round(width * scale))


RESAMPLING = {"lanczos": Image.Resampling.LANCZOS,
              "bilinear": Image.Resampling.BILINEAR}


def resize(image, shape, resample="lanczos"):
  """Resize a float 0-255 RGB image to (H, W): antialiased Lanczos, or `bilinear`
  (how a coarse-to-fine level's result is upsampled, as in the authors' code)."""
  height, width = shape
  if image.shape[:2] == (height, width):
    return image
  # Per channel in 32-bit float mode, so no quantisation to 8 bits on the way.
  channels = [Image.fromarray(image[..., c].astype(np.float32))
              .resize((width, height), RESAMPLING[resample])
              for c in range(image.shape[-1])]
  return np.clip(np.stack([np.asarray(c) for c in channels], axis=-1), 0, 255)


def load_pair(content_path, style_path, image_size, content_option="content_image",
              style_option="style_image", check_shape=None, min_side=1):
  """The photograph at `image_size` (longest side; 0 keeps its size) and the artwork
  rescaled to exactly the photograph's size, as the original reimplementation did.

  Files whose shortest side is under `min_side` px are refused: blown up, they would
  carry no content or style. `check_shape(shape)`, if given, sees the target (H, W)
  before any resizing, so a size too small or too large is refused before work.
  """
  content = check_min_side(load_image(content_path, content_option), min_side,
                           f"{flag(content_option)}: {content_path!r}", content_option)
  style = check_min_side(load_image(style_path, style_option), min_side,
                         f"{flag(style_option)}: {style_path!r}", style_option)
  shape = scaled_shape(content.shape, image_size)
  if check_shape is not None:
    check_shape(shape)
  return resize(content, shape), resize(style, shape)


def load_resized(path, shape, option=None):
  """An image read and resized to exactly (H, W), e.g. another artwork or an init."""
  return resize(load_image(path, option), shape[:2])


def check_min_side(image, min_side, what, option=None):
  """`image`, unless its shortest side is under `min_side` px: then a UserError of
  `option` naming `what`."""
  if min(image.shape[:2]) < min_side:
    raise UserError(f"{what} is {image.shape[1]}x{image.shape[0]} px; the layers used "
                    f"need at least {min_side} px on its shortest side; give a larger "
                    "image", option=option)
  return image


def psnr(a, b):
  """Peak signal-to-noise ratio (dB) of two RGB 0-255 images, both clipped to 0-255."""
  mse = np.mean((np.clip(a, 0, 255) - np.clip(b, 0, 255)) ** 2)
  return float(10 * np.log10(255.0 ** 2 / mse))


LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, the Y of YIQ


def structure_score(result, photograph, sigma_at_256=4.0):
  """How much of the photograph's coarse layout a result keeps: the correlation of the
  two images' luminance after a Gaussian blur of sigma_at_256 px at 256 px (scaled
  with the longest side, so it measures the same structures at every size). 1: the
  same layout; about 0: none of it (a texture). Both are clipped to 0-255 first."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top  (via scikit-image)
  sigma = sigma_at_256 * max(photograph.shape[:2]) / 256.0
  blurred = [ndimage.gaussian_filter(np.clip(x, 0, 255).astype(np.float64) @ LUMA,
                                     sigma).ravel() for x in (result, photograph)]
  return float(np.corrcoef(*blurred)[0, 1])


def to_uint8(image):
  return np.clip(np.round(image), 0, 255).astype(np.uint8)


def check_output_path(path, option="output"):
  """Fail before any work if `path` has no image extension or can't be written."""
  extension = os.path.splitext(path)[1].lower()
  if extension not in EXTENSIONS:
    raise UserError(f"{flag(option)}: {path!r} must end in one of "
                    f"{', '.join(EXTENSIONS)} (the format is chosen by extension)",
                    option=option)
  if os.path.isdir(path):
    raise UserError(f"{flag(option)}: {path!r} is a directory; give a file name",
                    option=option)
  ensure_writable_dir(os.path.dirname(path), option)


def save_image(path, image):
  """Write an RGB 0-255 image atomically, in the format its extension names."""
  extension = os.path.splitext(path)[1].lower()
  options = {"quality": 95} if extension in (".jpg", ".jpeg") else {}
  with atomic_path(path) as tmp:
    iio.imwrite(tmp, to_uint8(image), extension=extension, **options)
  return path
