"""`nst-video`: stylise a clip with temporal consistency (Ruder, Dosovitskiy & Brox,
GCPR 2016), frame by frame, resumable: see docs/video.md.

  nst-video --video=clip.mp4 --style_image=painting.jpg --output_dir=out/clip

Every frame is a run of nst's run path; every nst option (--preset, --image_size,
--color_control, ...) applies to each frame. With no --video it runs on a 24-frame
pan and zoom over scikit-image's astronaut (the clip every install can make), in the
style of nst's own sample artwork, so it can be tried offline.
"""

import os
import sys

from absl import flags

from nst import config
from nst import image as image_lib
from nst import interrupts
from nst import phases
from nst.cli import common as entry
from nst.cli import serve_flags
from nst.errors import UserError
from nst.runs import plan as run_lib
from nst.video import flow as flow_lib
from nst.video import loop

PROGRAM = "nst-video"
SAMPLE_STYLE = "ihc.png"  # nst's default artwork (scikit-image's)
DEMO_FRAMES = 24

_VIDEO = flags.DEFINE_string(
    "video", None, "The clip: a video file (mp4, webm, mov, mkv, avi, gif; not gif "
    "needs the [video] extra's imageio-ffmpeg) or a folder of PNG/JPEG frames "
    f"(natural order). Default: {DEMO_FRAMES} frames panning and zooming over "
    "scikit-image's astronaut.")
_STYLE = flags.DEFINE_list(
    "style_image", None, "Artwork (JPEG or PNG), or a comma list blended as nst "
    f"blends them. Default: scikit-image's sample {SAMPLE_STYLE}.")
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Where frames/, flow/, video.mp4 and video.json go (created; "
    "an interrupted clip there is continued).")
_TEMPORAL_WEIGHT = flags.DEFINE_float(
    "temporal_weight", loop.DEFAULT_TEMPORAL_WEIGHT,
    "Weight of the temporal loss 1/D sum c (x - warped previous frame)^2 (Ruder et "
    "al.); 0: no temporal loss (each frame still starts from the previous one warped).")
_MAX_FRAMES = flags.DEFINE_integer("max_frames", 0, "The first N frames only; 0: all.")
_FPS = flags.DEFINE_float("fps", 0, "Frame rate of video.mp4; 0: the clip's own (24 for "
                          "a folder of frames).")
_FLOW = flags.DEFINE_enum("flow", flow_lib.DEFAULT_METHOD, list(flow_lib.METHODS),
                          "OpenCV's optical flow: dis (DIS, the more accurate: see "
                          "docs/video.md) or farneback.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Start again in an --output_dir that holds another clip, or "
    "this clip made with other settings, or redo a finished one.")
flags.DEFINE_enum("preset", config.DEFAULT_PRESET, list(config.PRESETS),
                  "As nst --preset, for every frame.")
for _name in config.OPTIONS:
  if _name == "overwrite":
    continue
  if config.option_kind(_name) == "bool":
    flags.DEFINE_bool(_name, None, f"As nst --{_name}, for every frame.")
  else:
    flags.DEFINE_string(_name, None, f"As nst --{_name}, for every frame (frame 1 "
                        "starts from it)" if _name == "init" else
                        f"As nst --{_name}, for every frame.")
serve_flags.define(flags)


def given_options():
  """nst's options given on the command line, as the run API takes them."""
  given = {}
  for name in config.OPTIONS:
    if name == "overwrite" or not flags.FLAGS[name].present:
      continue
    value = flags.FLAGS[name].value
    if config.option_kind(name) != "bool":
      try:
        value = config.parse_option(name, value)
      except (TypeError, ValueError, OverflowError) as e:
        raise UserError(f"--{name}={value} is not a valid value ({e}); give "
                        f"{config.KIND_HELP[config.option_kind(name)]}",
                        option=name) from None
    given[name] = value
  return given


class _Progress:
  """One line per report: frame, step, the loss terms."""

  def __init__(self, total, report_every):
    self.total, self.report_every = total, report_every

  def __call__(self, t, it):
    if it.iteration % self.report_every == 0 or it.finished:
      temporal = it.losses.get("temporal")
      print(f"frame {t}/{self.total}  step {it.iteration}/{it.num_steps}  "
            f"content {it.losses['content']:.4e}  style {it.losses['style']:.4e}  "
            + (f"temporal {temporal:.4e}  " if temporal is not None else "")
            + f"total {it.losses['total']:.4e}", flush=True)


def _inputs():
  video = _VIDEO.value
  if video is None:
    from nst.video import synthetic
    video = synthetic.astronaut_clip(DEMO_FRAMES, 256)[0]
  style = _STYLE.value or [image_lib.sample_path(SAMPLE_STYLE)]
  return video, style


def main():
  live = None
  try:
    phases.enter("inputs")
    if not _OUTPUT_DIR.value:
      raise UserError("--output_dir: give the folder for the frames and the video (it "
                      "is created; an interrupted clip there is continued)",
                      option="output_dir")
    options = given_options()
    serve_flags.check(flags.FLAGS)
    video, style = _inputs()
    report = options.get("report_every") or config.resolve_options(
        flags.FLAGS.preset, options)["report_every"]
    progress = _Progress(0, report)
    plan = loop.prepare(video, style, _OUTPUT_DIR.value, flags.FLAGS.preset,
                        _TEMPORAL_WEIGHT.value, _MAX_FRAMES.value, _FPS.value,
                        _FLOW.value, _OVERWRITE.value, options)
    live = serve_flags.from_flags(flags.FLAGS, PROGRAM)
  except UserError as e:
    _fail(str(e))
  except interrupts.INTERRUPTS as e:
    print(f"{PROGRAM}: interrupted while {phases.words()}, before the first frame; "
          "nothing was written", file=sys.stderr)
    sys.exit(interrupts.exit_code(e))
  progress.total = len(plan.frames)
  height, width = plan.first.shape
  source = _VIDEO.value or "the astronaut demo clip"
  print(f"{PROGRAM}: {source}, {len(plan.frames)} frames at {width}x{height} px in the "
        f"style of {','.join(str(s) for s in style)}, preset {plan.preset}, "
        f"temporal_weight={plan.temporal_weight:g}, flow {plan.flow}", flush=True)
  if plan.record is not None:
    done = plan.record.get("frames_done", 0)
    print(f"{PROGRAM}: continuing the clip in {plan.output_dir} ({done}/"
          f"{len(plan.frames)} frames done before)", flush=True)
  try:
    result = loop.execute(plan, progress, print, live)
  except UserError as e:
    _fail(str(e))
  except run_lib.RunError as e:
    print(f"{PROGRAM}: {e}", file=sys.stderr)
    sys.exit(e.exit_code)
  if result.message:
    print(result.message if result.message.startswith(PROGRAM) else
          f"{PROGRAM}: {result.message}", file=sys.stderr)
  if result.complete:
    out = result.paths
    print(f"{PROGRAM}: {len(result.frames)} frames; wrote {os.path.abspath(out['video'])}"
          f" and its record {os.path.abspath(out['record'])}", flush=True)
    if live is not None:
      live.linger(flags.FLAGS.serve_linger)
  sys.exit(result.exit_code)


def _fail(message):
  entry.fail(PROGRAM, message)


def run_main():
  entry.run(PROGRAM, main, __name__, serve_flags.__name__)


if __name__ == "__main__":
  run_main()
