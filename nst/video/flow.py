"""Dense optical flow between frames, backward warping, and Ruder et al.'s per-pixel
consistency weights (Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos",
GCPR 2016, section 3.2).

Conventions. Images are float RGB 0-255 [H, W, 3]; a flow is float32 [H, W, 2] of
(dx, dy) in pixels. `flow(a, b)` is defined on the pixels of `a`: the point x of `a`
is seen at x + f(x) in `b`. `warp(image, f)` is backward warping: out(x) =
image(x + f(x)), bilinear. So with the backward flow f = flow(frame_t, frame_t-1),
warp(stylised_t-1, f) is the previous stylised frame moved onto frame t.

Only `flow` needs OpenCV (the [video] extra); warping and the weights are numpy.
"""

import numpy as np

from nst import config
from nst.errors import UserError

METHODS = ("dis", "farneback")
DEFAULT_METHOD = "dis"  # measured: docs/video.md, "Which optical flow"
INSTALL_HINT = "pip install 'nst[video]' (or pip install opencv-python-headless)"


def opencv():
  """The cv2 module; UserError naming the extra when it is not installed."""
  try:
    import cv2  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise UserError("optical flow needs OpenCV, which is not installed; "
                    f"{INSTALL_HINT}") from None
  return cv2


def gray(image):
  """Float RGB 0-255 -> uint8 luminance (BT.601), what the flow methods read."""
  y = np.asarray(image, np.float64)[..., :3] @ (0.299, 0.587, 0.114)
  return np.clip(np.round(y), 0, 255).astype(np.uint8)


def flow(a, b, method=DEFAULT_METHOD):
  """Dense flow from image `a` to image `b` (see the module's conventions).

  dis: OpenCV's DIS (Kroeger et al. 2016) at its MEDIUM preset, with variational
  refinement; farneback: OpenCV's Farneback polynomial expansion (5 levels, 15 px
  windows). Both run on the luminance.
  """
  cv2 = opencv()
  if method not in METHODS:
    config.check_choice(method, METHODS, "flow")
  ga, gb = gray(a), gray(b)
  if method == "dis":
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    result = dis.calc(ga, gb, None)
  else:
    result = cv2.calcOpticalFlowFarneback(ga, gb, None, pyr_scale=0.5, levels=5,
                                          winsize=15, iterations=5, poly_n=7,
                                          poly_sigma=1.5, flags=0)
  return np.asarray(result, np.float32)


def sample(image, points):
  """Bilinear samples of `image` [H, W, C] (or [H, W]) at float (x, y) `points`
  [..., 2]; coordinates outside are clamped to the border."""
  image = np.asarray(image, np.float32)
  flat = image.ndim == 2
  if flat:
    image = image[..., None]
  height, width = image.shape[:2]
  x = np.clip(points[..., 0], 0, width - 1)
  y = np.clip(points[..., 1], 0, height - 1)
  x0 = np.clip(np.floor(x).astype(np.int64), 0, max(width - 2, 0))
  y0 = np.clip(np.floor(y).astype(np.int64), 0, max(height - 2, 0))
  x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
  ax, ay = (x - x0)[..., None], (y - y0)[..., None]
  top = image[y0, x0] * (1 - ax) + image[y0, x1] * ax
  bottom = image[y1, x0] * (1 - ax) + image[y1, x1] * ax
  out = (top * (1 - ay) + bottom * ay).astype(np.float32)
  return out[..., 0] if flat else out


def grid(shape):
  """The (x, y) coordinates of every pixel of an image of `shape` [H, W, 2]."""
  ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
  return np.stack([xs, ys], axis=-1)


def warp(image, f):
  """Backward warping: out(x) = image(x + f(x)), bilinear, the border repeated
  where x + f(x) falls outside (those pixels get weight 0 in `consistency`)."""
  return sample(image, grid(f.shape) + f)


def inside(f):
  """[H, W] bool: where x + f(x) lies inside the image (bilinear support whole)."""
  height, width = f.shape[:2]
  target = grid(f.shape) + f
  return ((target[..., 0] >= 0) & (target[..., 0] <= width - 1)
          & (target[..., 1] >= 0) & (target[..., 1] <= height - 1))


def consistency(backward, forward):
  """Ruder et al.'s weights c [H, W] (float32, 0 or 1) on the pixels of frame t.

  backward: w^ = flow(frame_t, frame_t-1), on frame t; forward: w =
  flow(frame_t-1, frame_t), on frame t-1. With w~(x) = w(x + w^(x)), the forward
  flow brought back to frame t, c(x) = 0 where
    - x + w^(x) leaves the image, or
    - disocclusion: |w~ + w^|^2 > 0.01 (|w~|^2 + |w^|^2) + 0.5, or
    - a motion boundary: |grad u^|^2 + |grad v^|^2 > 0.01 |w^|^2 + 0.002,
  and 1 elsewhere (the thresholds of the paper, eqs. 6-7). Gradients are central
  differences (one-sided at the border).
  """
  backward = np.asarray(backward, np.float32)
  forward = np.asarray(forward, np.float32)
  back_then_forward = sample(forward, grid(backward.shape) + backward)  # w~
  round_trip = np.sum((back_then_forward + backward) ** 2, axis=-1)
  magnitudes = np.sum(back_then_forward ** 2, axis=-1) + np.sum(backward ** 2, axis=-1)
  disoccluded = round_trip > 0.01 * magnitudes + 0.5
  du_dy, du_dx = np.gradient(backward[..., 0])
  dv_dy, dv_dx = np.gradient(backward[..., 1])
  gradient = du_dx ** 2 + du_dy ** 2 + dv_dx ** 2 + dv_dy ** 2
  boundary = gradient > 0.01 * np.sum(backward ** 2, axis=-1) + 0.002
  reliable = inside(backward) & ~disoccluded & ~boundary
  return reliable.astype(np.float32)


def endpoint_error(estimated, true, mask=None):
  """Mean Euclidean distance (px) between two flows, over `mask` (default: all)."""
  error = np.sqrt(np.sum((np.asarray(estimated) - np.asarray(true)) ** 2, axis=-1))
  return float(error[mask].mean() if mask is not None else error.mean())


def pair(previous, current, method=DEFAULT_METHOD):
  """What frame t needs from frames t-1 and t: {"backward": w^, "forward": w,
  "weights": c} (see `consistency`)."""
  backward = flow(current, previous, method)
  forward = flow(previous, current, method)
  return {"backward": backward, "forward": forward,
          "weights": consistency(backward, forward)}
