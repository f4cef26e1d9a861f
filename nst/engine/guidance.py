"""Guidance masks at each layer's resolution (spatial control, Gatys et al. 2017): how
a pixel mask is propagated to a VGG19 layer, "simple" (average-pooled to the
layer's size, the paper's) or "inside" (eroded by each conv and pool, so that only
positions whose receptive field lies inside the region count). The masks are read
and checked in nst/control/spatial.py; the optimisation uses them here."""

import numpy as np

from nst.engine import vgg

THRESHOLD = 0.5  # "inside": a pixel is in the region when its mask is >= 0.5


def layer_mask(mask, layer, propagation="simple"):
  """The pixel mask [H, W] at `layer`'s resolution [H // 2^k, W // 2^k] (k poolings
  before it), by `propagation` (see the module's doc)."""
  if propagation == "simple":
    stride = 2 ** vgg.downsampling(layer)
    return _average_pool(np.asarray(mask, np.float32), stride)
  if propagation == "inside":
    inside = np.asarray(mask) >= THRESHOLD
    for name in vgg.LAYER_NAMES[:vgg.LAYER_NAMES.index(layer) + 1]:
      if name.startswith("conv"):    # 3x3, same padding: sees one position around
        inside = _erode(inside)
      elif name.startswith("pool"):  # 2x2, stride 2 (floor, as Keras's valid pooling)
        inside = _all_pool(inside)
    return inside.astype(np.float32)
  raise ValueError(f"unknown mask propagation {propagation!r}")


def _average_pool(mask, stride):
  h, w = mask.shape[0] // stride, mask.shape[1] // stride
  return mask[:h * stride, :w * stride].reshape(h, stride, w, stride).mean(axis=(1, 3))


def _all_pool(inside):
  h, w = inside.shape[0] // 2, inside.shape[1] // 2
  return inside[:h * 2, :w * 2].reshape(h, 2, w, 2).all(axis=(1, 3))


def _erode(inside):
  padded = np.pad(inside, 1, constant_values=True)  # the border is padding, not pixels
  h, w = inside.shape
  out = np.ones_like(inside)
  for dy in range(3):
    for dx in range(3):
      out &= padded[dy:dy + h, dx:dx + w]
  return out
