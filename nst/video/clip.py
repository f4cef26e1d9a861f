"""Reading a clip (a video file or a folder of frames) and writing one (an mp4).

Video files other than GIFs are decoded and encoded by ffmpeg through imageio-ffmpeg,
which ships its own ffmpeg binary in its wheel (the [video] extra); GIFs and folders
of PNG/JPEG frames need nothing beyond nst's own dependencies. Every problem is a
UserError of the option (video, output_dir) naming its flag, the file and the fix.
"""

import os
import re

import imageio.v3 as iio
import numpy as np

from nst import image as image_lib
from nst.errors import UserError, flag
from nst.files import atomic_path

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v", ".mpg", ".mpeg",
                    ".ogv")
GIF = ".gif"
DEFAULT_FPS = 24.0  # a folder of frames, or a clip that does not say
INSTALL_HINT = "pip install 'nst[video]' (or pip install imageio-ffmpeg)"
WHAT = ("a video file (" + ", ".join(e[1:] for e in VIDEO_EXTENSIONS + (GIF,))
        + ") or a folder of PNG/JPEG frames")


def ffmpeg(option):
  """The imageio_ffmpeg module; UserError of `option` (the clip that needs it)
  naming the extra when it is missing."""
  try:
    import imageio_ffmpeg  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise UserError(f"{flag(option)}: reading and writing video files needs "
                    f"imageio-ffmpeg, which is not installed; {INSTALL_HINT}",
                    option=option) from None
  return imageio_ffmpeg


def _natural(name):
  return [int(part) if part.isdigit() else part.lower()
          for part in re.split(r"(\d+)", name)]


def frame_files(folder):
  """The PNG/JPEG files of `folder`, in natural order (frame_2 before frame_10)."""
  names = [n for n in os.listdir(folder) if not n.startswith(".")
           and os.path.splitext(n)[1].lower() in image_lib.EXTENSIONS
           and os.path.isfile(os.path.join(folder, n))]
  return [os.path.join(folder, n) for n in sorted(names, key=_natural)]


def read(path, max_frames=0, shape_of=None, budget=None, option="video"):
  """(frames, fps) of a clip: float RGB 0-255 arrays, at most `max_frames` (0: all).

  shape_of: called with the first frame's (H, W); returns the (H, W) every frame is
  resized to (the run's size), so that a long clip is held at that size only.
  budget: the most bytes the frames may take (None: no limit); a longer clip is
  refused, saying how many frames fit.
  fps: the clip's frame rate, or DEFAULT_FPS where it has none (a folder).
  A UserError is of `option`, the one that gave the clip.
  """
  path = os.fspath(path)
  name = flag(option)
  if not os.path.exists(path):
    raise UserError(f"{name}: no such file or folder {path!r}; give {WHAT}",
                    option=option)
  if os.path.isdir(path):
    files = frame_files(path)
    if not files:
      raise UserError(f"{name}: the folder {path!r} holds no frames (no .png, .jpg or "
                      f".jpeg files); give {WHAT}", option=option)
    source = (image_lib.load_image(f, option, label=f"{name}: frame") for f in files)
    fps = DEFAULT_FPS
  else:
    extension = os.path.splitext(path)[1].lower()
    if extension in image_lib.EXTENSIONS:
      raise UserError(f"{name}: {path!r} is a single image, not a clip; give {WHAT} "
                      "(for one image, use nst)", option=option)
    if extension == GIF:
      source, fps = _gif(path, option)
    elif extension in VIDEO_EXTENSIONS:
      source, fps = _video(path, option)
    else:
      raise UserError(f"{name}: {path!r} is not a video (unknown extension "
                      f"{extension or '(none)'!r}); give {WHAT}", option=option)
  frames, shape = [], None
  try:
    for frame in source:
      if shape is None:
        first = frame.shape[:2]
        shape = shape_of(first) if shape_of else first
      elif frame.shape[:2] != first:
        raise UserError(f"{name}: frame {len(frames) + 1} of {path!r} is "
                        f"{frame.shape[1]}x{frame.shape[0]} px but frame 1 is "
                        f"{first[1]}x{first[0]}; give frames of one size",
                        option=option)
      frames.append(image_lib.resize(frame, shape).astype(np.float32))
      if budget is not None and len(frames) * frames[0].nbytes > budget:
        fit = max(1, budget // frames[0].nbytes)
        raise UserError(f"{name}: the frames of {path!r} at {shape[1]}x{shape[0]} px "
                        f"need more memory than is free; give {flag('max_frames')}="
                        f"{fit} (or fewer) or a smaller {flag('image_size')}",
                        option=option)
      if max_frames and len(frames) >= max_frames:
        break
  finally:
    close = getattr(source, "close", None)
    if close:
      close()
  if not frames:
    raise UserError(f"{name}: {path!r} has no frames; give {WHAT} with at least one "
                    "frame", option=option)
  return frames, fps


def _gif(path, option):
  try:
    meta = iio.immeta(path, plugin="pillow", index=0)
    frames = iio.imiter(path, plugin="pillow", mode="RGB")
    first = next(frames)
  except StopIteration:
    return iter(()), DEFAULT_FPS
  except Exception as e:  # pylint: disable=broad-except  (Pillow raises many kinds)
    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    raise UserError(f"{flag(option)}: cannot read {path!r} as a GIF ({reason}); give "
                    f"{WHAT}", option=option) from None
  duration = meta.get("duration") or 0  # ms per frame
  fps = 1000.0 / duration if duration else DEFAULT_FPS

  def frames_of():
    yield image_lib.to_rgb(np.asarray(first))
    for frame in frames:
      yield image_lib.to_rgb(np.asarray(frame))
  return frames_of(), fps


def _video(path, option):
  imageio_ffmpeg = ffmpeg(option)
  reader = imageio_ffmpeg.read_frames(path, pix_fmt="rgb24")
  try:
    meta = next(reader)
  except (OSError, RuntimeError, StopIteration) as e:
    reader.close()
    raise UserError(f"{flag(option)}: cannot read {path!r} as a video "
                    f"({_ffmpeg_reason(e, path)}); give {WHAT}",
                    option=option) from None
  width, height = meta["size"]
  fps = float(meta.get("fps") or 0) or DEFAULT_FPS

  def frames_of():
    try:
      for raw in reader:
        frame = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
        yield frame.astype(np.float32)
    except (OSError, RuntimeError) as e:
      raise UserError(f"{flag(option)}: cannot decode {path!r} "
                      f"({_ffmpeg_reason(e, path)}); give {WHAT}",
                      option=option) from None
    finally:
      reader.close()
  return frames_of(), fps


def _ffmpeg_reason(error, path):
  """ffmpeg's own last words, shortened (it names the file; we already do)."""
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  reason = lines[-1] if lines else type(error).__name__
  reason = reason.replace(f"{path}: ", "").replace(f"{os.path.abspath(path)}: ", "")
  if reason.startswith("ffmpeg version") or "===" in reason:
    reason = lines[0] if lines else reason
  return reason[:200]


def write_mp4(path, frames, fps, option="output_dir"):
  """Encode `frames` (RGB 0-255, one size) as an H.264 mp4 at `fps`, atomically.
  yuv420p needs even sides: an odd last row or column is repeated."""
  imageio_ffmpeg = ffmpeg(option)
  height, width = frames[0].shape[:2]
  even_h, even_w = height + height % 2, width + width % 2
  with atomic_path(path) as tmp:
    writer = imageio_ffmpeg.write_frames(
        tmp, (even_w, even_h), fps=fps, codec="libx264", macro_block_size=1,
        quality=None, output_params=["-crf", "18"], ffmpeg_log_level="error")
    writer.send(None)  # start ffmpeg
    try:
      for frame in frames:
        frame = image_lib.to_uint8(frame)
        frame = np.pad(frame, ((0, even_h - height), (0, even_w - width), (0, 0)),
                       mode="edge")
        writer.send(np.ascontiguousarray(frame))
    finally:
      writer.close()
  return path
