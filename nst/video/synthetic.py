"""A clip with known motion from one photograph: a camera panning and zooming over it.

Frame t shows the square window of side s_t (in the photograph's pixels) whose
top-left corner is (x_t, y_t), rendered at `size` px: output pixel centre (i + 0.5)
shows photograph point x_t + (i + 0.5) s_t / size (and likewise in y). The motion of
every pixel is therefore known exactly: `true_flow(t, t-1)` is the backward flow
(frame t onto frame t-1) that nst.video.flow estimates. No video ships offline, so
this is the clip of the benchmark, the tests' and docs' examples.
"""

import dataclasses

import numpy as np
import skimage.data

from nst import image as image_lib
from nst.video import flow as flow_lib


@dataclasses.dataclass
class Camera:
  """Window corners (x, y) and sides s, one per frame, in the photograph's px."""
  x: np.ndarray
  y: np.ndarray
  side: np.ndarray
  size: int

  def __len__(self):
    return len(self.side)


def pan_zoom(photo_shape, num_frames, size, pan=(0.25, 0.1), zoom=1.3):
  """A camera over a photograph of `photo_shape` (H, W): the window starts at 70% of
  the shorter side, centred, moves by `pan` (fractions of the shorter side, x and y)
  while its side shrinks by `zoom` (zooming in), all linearly over the frames."""
  short = min(photo_shape[:2])
  start = 0.7 * short
  t = np.linspace(0.0, 1.0, num_frames)
  side = start / (1.0 + (zoom - 1.0) * t)
  cx = photo_shape[1] / 2.0 + (t - 0.5) * pan[0] * short
  cy = photo_shape[0] / 2.0 + (t - 0.5) * pan[1] * short
  return Camera(x=cx - side / 2.0, y=cy - side / 2.0, side=side, size=size)


def render(photo, camera, supersample=4):
  """The frames [size, size, 3] float 0-255 of `camera` over `photo`: each window
  rendered bilinearly at `supersample` x the size, then reduced (Lanczos) so that the
  frames are antialiased."""
  photo = image_lib.to_rgb(np.asarray(photo))
  big = camera.size * supersample
  centres = (np.arange(big, dtype=np.float64) + 0.5) / big  # in 0-1 of the window
  frames = []
  for t in range(len(camera)):
    xs = camera.x[t] + centres * camera.side[t] - 0.5  # photograph pixel coordinates
    ys = camera.y[t] + centres * camera.side[t] - 0.5
    points = np.stack(np.meshgrid(xs, ys), axis=-1).astype(np.float32)
    frame = flow_lib.sample(photo, points)
    frames.append(image_lib.resize(frame, (camera.size, camera.size)))
  return frames


def true_flow(camera, t, s):
  """The exact flow from frame t to frame s [size, size, 2]: pixel i of frame t shows
  the photograph point that pixel j of frame s shows, flow = j - i."""
  i = np.arange(camera.size, dtype=np.float64) + 0.5
  def axis(corner):
    point = corner[t] + i * camera.side[t] / camera.size
    return (point - corner[s]) * camera.size / camera.side[s] - i
  fx, fy = axis(camera.x), axis(camera.y)
  return np.stack(np.meshgrid(fx, fy), axis=-1).astype(np.float32)


def astronaut_clip(num_frames=24, size=128, **camera):
  """scikit-image's astronaut (public domain) under `pan_zoom`: (frames, camera)."""
  photo = skimage.data.astronaut()
  cam = pan_zoom(photo.shape, num_frames, size, **camera)
  return render(photo, cam), cam
