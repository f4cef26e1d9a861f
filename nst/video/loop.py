"""Stylising a clip with temporal consistency (Ruder, Dosovitskiy & Brox, GCPR 2016):
the frame loop behind `nst-video` and `nst.video.transfer`.

Every frame is a run of nst's run path (runs/plan.py prepare / execute: presets,
colour control, records, checkpoints, the live page), its content the frame. Frame 1
starts from the run's own --init; frame t > 1 starts from the stylised frame t-1
warped onto it by the backward optical flow (where the flow is reliable; elsewhere
from its own --init), and its loss gains Ruder et al.'s short-term temporal term

  temporal_weight * 1/D sum c (x - warp(stylised_t-1))^2

with c the forward-backward consistency weights (0 where disoccluded or on a motion
boundary; flow.consistency). Frame 1 carries the same term with c = 0 (it adds
exactly nothing), so that all frames share one traced loss.

In --output_dir: frames/frame_00001.png ... (each with its run's record, loss plot
and, while interrupted, checkpoint), flow/pair_00002.npz ... (the flows and weights
between frames 1 and 2, ...: a rerun reads them instead of computing them again),
video.mp4 and video.json (this clip's record). Interrupted (Ctrl-C, SIGTERM), the
finished frames and the current frame's checkpoint stay; the same command continues
there. The stylised frame t-1 that frame t follows is always the one written (read
back from its PNG), so a continued clip is the uninterrupted one exactly.
"""

import dataclasses
import hashlib
import io
import json
import math
import os
import re
import time

import numpy as np

from nst import config
from nst import image as image_lib
from nst import interrupts
from nst import phases
from nst.control import color
from nst.engine import memory
from nst.errors import UserError, flag
from nst.files import atomic_path
from nst.files import ensure_writable_dir
from nst.files import remove_stale_parts
from nst.files import same_file
from nst.files import write_json
from nst.runs import plan as run_lib
from nst.runs import records
from nst.runs import single
from nst.video import clip as clip_lib
from nst.video import flow as flow_lib

# Calibrated on the astronaut pan-and-zoom benchmark at 128 px under the default preset
# (benchmarks/video_consistency.py; docs/video.md): warping error 17.7x lower than
# independent frames', no frame's style loss above theirs; 1e-3 blurs (style 1.5x).
DEFAULT_TEMPORAL_WEIGHT = 1e-4
RECORD = "video.json"
VIDEO = "video.mp4"
FRAMES = "frames"
FLOWS = "flow"
FRAME_NAME = "frame_{:05d}.png"
FLOW_NAME = "pair_{:05d}.npz"   # the flows between frame t-1 and frame t, named by t
OURS = re.compile(r"(frame_\d{5}(\.png|\.json|_loss\.png|\.ckpt\.npz)|pair_\d{5}\.npz)")
# Options of nst that nst-video sets per frame or does not take.
NOT_PER_FRAME = {
    "resume": "nst-video continues an interrupted clip by itself: run the same "
              "command again",
    "pyramid": f"coarse-to-fine levels are not supported per frame; give "
               f"{flag('pyramid')}= (empty) and set {flag('image_size')}",
    "fine_style_image": "scale control would synthesise a style image per frame; "
                        f"synthesise it once with nst and give it as "
                        f"{flag('style_image')}",
    "save_per_step": "step images are not written per frame; leave it at -1",
}
MEMORY_SHARE = 0.5  # the decoded frames may take at most this share of free memory


@dataclasses.dataclass
class VideoResult:
  """What a clip gives back: the stylised frames done (HxWx3 uint8), the clip's
  record (video.json's dict), the files, and how it ended."""
  frames: list
  record: dict
  paths: dict = None          # output_dir, frames, flows, video, record
  results: list = None        # per frame: its run.Result (None: done before)
  signal_exit_code: int = 0   # 130 / 143 when a signal stopped it
  message: str = None         # the one line that says what was kept, when stopped
  failed_exit_code: int = 0   # a frame's non-finite loss (3)

  @property
  def interrupted(self):
    return bool(self.signal_exit_code)

  @property
  def complete(self):
    return not self.interrupted and not self.failed_exit_code

  @property
  def exit_code(self):
    return self.signal_exit_code or self.failed_exit_code


def paths(output_dir):
  return {"output_dir": output_dir, "frames": os.path.join(output_dir, FRAMES),
          "flows": os.path.join(output_dir, FLOWS),
          "video": os.path.join(output_dir, VIDEO),
          "record": os.path.join(output_dir, RECORD)}


def transfer(video, style, output_dir=None, *, preset=None,
             temporal_weight=DEFAULT_TEMPORAL_WEIGHT, max_frames=0, fps=0.0,
             flow=flow_lib.DEFAULT_METHOD, overwrite=False, callback=None, log=None,
             live=None, **options):
  """Stylise a clip with `style`, frame by frame, temporally consistent; a
  VideoResult.

  video: a video file (mp4, webm, mov, mkv, avi, gif, ...), a folder of PNG/JPEG
    frames (natural order), or a list of HxWx3 arrays.
  style: as nst.transfer's (a path or array, or a list blended).
  output_dir: where the frames, flows, video.mp4 and video.json go; None writes
    nothing (and nothing can be continued).
  temporal_weight: the weight of Ruder et al.'s temporal loss; 0 stylises the frames
    independently (each still starting from the previous one warped).
  max_frames: the first N frames only (0: all). fps: the mp4's frame rate (0: the
    clip's, 24 for a folder). flow: "dis" or "farneback" (flow.METHODS).
  overwrite: start again in an output_dir that holds another clip's frames, or
    this clip's made with other settings (else refused), or redo a finished one.
  callback: called with (frame number from 1, optimize.Iterate) for every iterate.
  live: a serve.Live shown each frame's run and the table of frames.
  options: nst's options by flag name (image_size, alpha, color_control, ...),
    applied to every frame; the first frame starts from their `init`.

  Bad input raises UserError with the command's one-line message. A Ctrl-C (or
  SIGTERM raising interrupts.Terminated) keeps the frames finished and the current
  frame's checkpoint: the VideoResult says interrupted, its message says what was
  kept; the same call continues there.
  """
  log = log or (lambda *_: None)
  try:
    plan = prepare(video, style, output_dir, preset, temporal_weight, max_frames, fps,
                 flow, overwrite, options)
  except interrupts.INTERRUPTS as e:
    raise run_lib.interrupted(e, "before the first frame; nothing was written") from None
  return execute(plan, callback, log, live)


@dataclasses.dataclass
class Plan:
  """A clip's checked inputs: what `execute` needs."""
  frames: list                 # float RGB 0-255, at the run's size
  style: object
  output_dir: str
  preset: str
  options: dict                # nst's options as given, for every frame
  temporal_weight: float
  flow: str
  fps: float
  identity: dict               # what a continued clip must agree on
  first: object                # run.Prepared of frame 1 (the checks done)
  record: dict = None          # video.json so far


def prepare(video, style, output_dir=None, preset=None,
            temporal_weight=DEFAULT_TEMPORAL_WEIGHT, max_frames=0, fps=0.0,
            flow=flow_lib.DEFAULT_METHOD, overwrite=False, options=None):
  """Every check before any slow work (TensorFlow is not imported), the frames
  read: a Plan for `execute`. Raises UserError on anything wrong."""
  options = dict(options or {})
  phases.enter("inputs")
  _check_video_options(temporal_weight, max_frames, fps, flow, options)
  resolved = config.resolve_options(preset, options)  # an unknown option, now
  shape_of = lambda shape: image_lib.scaled_shape(shape, resolved["image_size"])
  if isinstance(video, (list, tuple)):
    frames, clip_fps = _arrays(video, max_frames, shape_of), clip_lib.DEFAULT_FPS
  elif isinstance(video, (str, os.PathLike)):
    frames, clip_fps = clip_lib.read(video, max_frames, shape_of,
                                     budget=_frame_budget())
  else:
    raise UserError(f"{flag('video')}: give a path (a video file or a folder of "
                    f"frames) or a list of frames, not {type(video).__name__}",
                    option="video")
  if len(frames) > 1:
    flow_lib.opencv()  # the extra, said now rather than after frame 1
  if output_dir is not None:
    output_dir = os.fspath(output_dir)
    ensure_writable_dir(output_dir, "output_dir")
    _check_inputs_kept(output_dir, video, style, options)
  out = paths(output_dir) if output_dir else None
  if out is not None and len(frames) > 0:
    clip_lib.ffmpeg("output_dir")  # the mp4 is written at the end: said now
  # Frame 1 checked as every frame will be (sizes, memory, the artworks, options).
  first = run_lib.prepare(frames[0], style, None, preset=preset,
                          **_frame_options(options, None))
  identity = _identity(video, frames, style, first, options, temporal_weight, flow)
  plan = Plan(frames=frames, style=style, output_dir=output_dir, preset=first.preset,
               options=dict(options), temporal_weight=float(temporal_weight),
               flow=flow, fps=float(fps) or clip_fps, identity=identity, first=first)
  if out is not None:
    plan.record = _existing(out, identity, overwrite)
  return plan


def _check_video_options(temporal_weight, max_frames, fps, flow, options):
  if isinstance(temporal_weight, bool) or not isinstance(temporal_weight, (int, float)) \
      or not (math.isfinite(temporal_weight) and temporal_weight >= 0):
    raise UserError(f"{flag('temporal_weight')} must be a finite number >= 0, got "
                    f"{temporal_weight!r}", option="temporal_weight")
  if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 0:
    raise UserError(f"{flag('max_frames')} must be an integer >= 0 (0: every frame), "
                    f"got {max_frames!r}", option="max_frames")
  if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (
      math.isfinite(fps) and fps >= 0):
    raise UserError(f"{flag('fps')} must be a number >= 0 (0: the clip's own), got "
                    f"{fps!r}", option="fps")
  config.check_choice(flow, flow_lib.METHODS, "flow")
  for name, why in NOT_PER_FRAME.items():
    value = options.get(name)
    if value is not None and not isinstance(value, np.ndarray) and value not in (
        False, "", -1):
      raise UserError(f"{flag(name)}: {why}", option=name)


def _frame_budget():
  available = memory.available_bytes()
  return None if available is None else int(MEMORY_SHARE * available)


def _arrays(frames, max_frames, shape_of):
  if max_frames:
    frames = frames[:max_frames]
  if not len(frames):
    raise UserError(f"{flag('video')}: the list of frames is empty; give at least one "
                    "frame", option="video")
  out, first = [], None
  for i, frame in enumerate(frames):
    rgb, _ = single.load(np.asarray(frame), "video",
                         label=f"{flag('video')}: frame {i + 1}")
    if first is None:
      first = rgb.shape[:2]
    elif rgb.shape[:2] != first:
      raise UserError(f"{flag('video')}: frame {i + 1} is "
                      f"{rgb.shape[1]}x{rgb.shape[0]} px but frame 1 is "
                      f"{first[1]}x{first[0]}; give frames of one size", option="video")
    out.append(image_lib.resize(rgb, shape_of(first)))
  return out


def _frame_options(options, init, overwrite=False, resume=False):
  """nst's options for one frame: the clip's, with this frame's start, at one scale
  (a preset's coarse-to-fine levels, the default's, would start each frame again
  at a smaller size and lose the previous frame's warped start)."""
  given = {k: v for k, v in options.items() if k not in ("overwrite", "resume")}
  if init is not None:
    given["init"] = init
  return dict(given, pyramid="", overwrite=overwrite, resume=resume)


def _input_paths(video, style, options):
  """[(option, path)] of the clip's input files."""
  found = [("video", video)] if isinstance(video, (str, os.PathLike)) else []
  styles = style if isinstance(style, (list, tuple)) else [style]
  found += [("style_image", s) for s in styles]
  init = options.get("init")
  if isinstance(init, (str, os.PathLike)) and init not in config.INIT_CHOICES:
    found.append(("init", init))
  return [(option, os.fspath(p)) for option, p in found
          if isinstance(p, (str, os.PathLike)) and os.path.exists(p)]


def _check_inputs_kept(output_dir, video, style, options):
  """Never write onto an input: no input lies in the frames or flow folder, or is
  video.mp4 or video.json of `output_dir`, whatever --overwrite says."""
  out = paths(output_dir)
  for option, path in _input_paths(video, style, options):
    for kind in ("frames", "flows"):
      folder = out[kind]
      if same_file(path, folder) or (os.path.isdir(folder) and same_file(
          os.path.dirname(os.path.abspath(path)), folder)):
        raise UserError(f"{flag('output_dir')}: {flag(option)} {path!r} lies in "
                        f"{folder!r}, which nst-video writes; nst never writes onto "
                        f"its inputs; choose another {flag('output_dir')}",
                        option="output_dir")
    for kind in ("video", "record"):
      if same_file(path, out[kind]):
        raise UserError(f"{flag('output_dir')}: {out[kind]!r} would replace "
                        f"{flag(option)} {path!r}; nst never writes onto its inputs; "
                        f"choose another {flag('output_dir')}", option="output_dir")


def _jsonable(value):
  if isinstance(value, np.ndarray):
    return {"array": list(value.shape), "sha1": hashlib.sha1(
        np.ascontiguousarray(value).tobytes()).hexdigest()}
  if isinstance(value, os.PathLike):
    return os.fspath(value)
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  if isinstance(value, dict):
    return {k: _jsonable(v) for k, v in value.items()}
  return value


def _identity(video, frames, style, first, options, temporal_weight, flow):
  """What a continued clip must agree on with the one in its output_dir."""
  digest = hashlib.sha1()
  for frame in frames:
    digest.update(np.ascontiguousarray(frame, np.float32).tobytes())
  return json.loads(json.dumps({
      "video": (os.path.abspath(os.fspath(video))
                if isinstance(video, (str, os.PathLike)) else run_lib.ARRAY),
      "frames": len(frames), "shape": list(first.shape), "frames_sha1": digest.hexdigest(),
      "style": _jsonable(style if isinstance(style, (list, tuple)) else [style]),
      "init": _jsonable(options.get("init", first.options["init"])),
      "settings": records.settings_dict(dataclasses.replace(first.settings,
                                                            init="(per frame)")),
      "temporal_weight": float(temporal_weight), "flow": flow,
  }))


IDENTITY_WORDS = {"video": flag("video"), "frames": "frame count",
                  "frames_sha1": "frames", "shape": "size",
                  "style": flag("style_image"), "init": flag("init"),
                  "settings": "settings", "temporal_weight": flag("temporal_weight"),
                  "flow": flag("flow")}


def _existing(out, identity, overwrite):
  """video.json of an earlier run of this clip in out (to continue), else None;
  UserError if the folder holds another clip's (or one nst-video did not write)."""
  record = None
  if os.path.exists(out["record"]):
    try:
      with open(out["record"], encoding="utf-8") as f:
        record = json.load(f)
      if not (isinstance(record, dict) and record.get("nst_video") == 1):
        raise ValueError("not nst-video's")
    except (OSError, ValueError):
      record = None
      if not overwrite:
        raise UserError(f"{flag('output_dir')}: {out['record']!r} exists and nst-video "
                        f"did not write it; pass {flag('overwrite')} to replace it, or "
                        f"choose another {flag('output_dir')}",
                        option="output_dir") from None
  elif not overwrite:
    for kind in ("video", "frames", "flows"):
      path = out[kind]
      if os.path.isfile(path) or (os.path.isdir(path) and any(
          OURS.fullmatch(n) for n in os.listdir(path))):
        raise UserError(f"{flag('output_dir')}: {path!r} exists but {RECORD} does not "
                        "(not a clip nst-video can continue); pass "
                        f"{flag('overwrite')} to replace it, or choose another "
                        f"{flag('output_dir')}",
                        option="output_dir")
  if record is not None and not overwrite:
    if record.get("identity") != identity:
      saved = record.get("identity") or {}
      differing = [words for key, words in IDENTITY_WORDS.items()
                   if saved.get(key) != identity.get(key)] or ["settings"]
      raise UserError(f"{flag('output_dir')}: {out['output_dir']!r} holds a clip "
                      f"stylised with other {', '.join(differing)}; give the same "
                      f"inputs and flags to continue it, {flag('overwrite')} to start "
                      f"again, or another {flag('output_dir')}", option="output_dir")
    return record
  if overwrite:
    _clear(out)
  return None


def _clear(out):
  """Remove what nst-video wrote in out (only its own names)."""
  for kind in ("frames", "flows"):
    if os.path.isdir(out[kind]):
      for name in os.listdir(out[kind]):
        if OURS.fullmatch(name):
          os.remove(os.path.join(out[kind], name))
  for kind in ("video", "record"):
    if os.path.isfile(out[kind]):
      os.remove(out[kind])


# --- The frame loop ------------------------------------------------------------------


def execute(plan, callback=None, log=None, live=None):
  """Stylise a prepared clip frame by frame (see `transfer`); a VideoResult."""
  log = log or (lambda *_: None)
  frames, total = plan.frames, len(plan.frames)
  out = paths(plan.output_dir) if plan.output_dir else None
  if out is not None:
    os.makedirs(out["frames"], exist_ok=True)
    if total > 1:
      os.makedirs(out["flows"], exist_ok=True)
  entries = [_pending(t, out) for t in range(1, total + 1)]
  done_images, results, previous = [], [], None
  stopped = None
  t = 0
  try:
    _write_record(out, _record(plan, entries, "running"))
    for t in range(1, total + 1):
      entry = entries[t - 1]
      pair = None
      if t > 1:
        phases.enter("flow")
        pair = _pair(plan, out, t)
        warped = flow_lib.warp(previous, pair["backward"])
      output = os.path.join(out["frames"], FRAME_NAME.format(t)) if out else None
      init = None if t == 1 else _start(plan.first, warped)
      prepared, resumes = _prepare_frame(plan, t, output, init)
      before = run_lib.done_before(prepared) if output is not None else None
      if before is not None:
        image = image_lib.load_image(output, label=f"frame {t}")
        _account(entry, record=before, state="done before")
        results.append(None)
        log(f"nst-video: frame {t}/{total}: done before, kept")
      else:
        if resumes:
          log(f"nst-video: frame {t}/{total}: continuing from its checkpoint")
        target = (prepared.content if t == 1 else init)
        weights = (np.zeros(prepared.shape, np.float32) if t == 1
                   else pair["weights"])
        # One scale (levels and combinations are refused): the frame's own run.
        prepared = dataclasses.replace(prepared, run=dataclasses.replace(
            prepared.run, init=_blended_start(plan, prepared, init, weights, t),
            temporal=(target, weights, plan.temporal_weight)))
        update = _show(live, prepared, plan, t, entries, done_images)
        result = run_lib.execute(prepared, callback=_frame_callback(callback, update, t),
                                 log=log)
        results.append(result)
        _account(entry, result=result)
        if result.stopped == "interrupted" or result.partial:
          stopped = result
          break
        image = result.image.astype(np.float32)
        if result.interrupted:  # finished as the signal came: kept, then stop
          done_images.append(image_lib.to_uint8(image))
          stopped = result
          break
      if pair is not None:
        entry["reliable"] = round(float(pair["weights"].mean()), 4)
        entry["warp_change"] = round(_masked_mse(image, warped, pair["weights"]), 4)
      done_images.append(image_lib.to_uint8(image))
      previous = image
  except run_lib.RunError as e:  # a frame interrupted before its first step
    if not run_lib.is_interruption(e):
      raise
    entries[t - 1]["state"] = "interrupted"
    return _stopped(plan, out, entries, done_images, results, e.exit_code, t,
                    phases.words())
  except interrupts.INTERRUPTS as e:  # the flow, a frame's checks, between frames
    if t:
      entries[t - 1]["state"] = "interrupted"
    return _stopped(plan, out, entries, done_images, results,
                    interrupts.exit_code(e), t, phases.words())
  if stopped is not None:
    if stopped.stopped == "non_finite":
      record = _record(plan, entries, "failed")
      _write_record(out, record)
      message = (f"nst-video: frame {t}/{total} stopped: the loss or its gradient is "
                 f"not finite; frames 1-{t - 1} are kept" + run_lib.NON_FINITE_HINT)
      return VideoResult(frames=done_images, record=record, paths=out, results=results,
                         message=message, failed_exit_code=stopped.exit_code)
    doing = (phases.words("step") if stopped.stopped == "interrupted"
             else phases.words("write"))  # finished, the signal came as it was written
    return _stopped(plan, out, entries, done_images, results, stopped.exit_code, t,
                    doing)
  with interrupts.held() as held:  # the clip's outputs are written whole
    phases.enter("write")
    if out is not None:
      clip_lib.write_mp4(out["video"], done_images, plan.fps)
    record = _record(plan, entries, "done")
    _write_record(out, record)
  if live is not None:
    if done_images and not entries[-1].get("thumb"):
      entries[-1]["thumb"] = live.set_thumbnail(f"f{total}", done_images[-1])
    live.set_jobs(_rows(entries), done=total)
    live.finish()
  return VideoResult(frames=done_images, record=record, paths=out, results=results,
                     signal_exit_code=held.code,
                     message=(None if not held.code else
                              "nst-video: interrupted while writing the video; it was "
                              "completed first"))


def _prepare_frame(plan, t, output, init):
  """run.prepare for frame t: a checkpoint left by an interruption is continued; a
  frame with none starts afresh (the folder is this clip's: _existing checked it)."""
  resumes = output is not None and os.path.isfile(records.paths(output)["checkpoint"])
  try:
    return run_lib.prepare(plan.frames[t - 1], plan.style, output, preset=plan.preset,
                           **_frame_options(plan.options, init,
                                            overwrite=not resumes and output is not None,
                                            resume=resumes)), resumes
  except UserError as e:
    raise UserError(f"frame {t}: {e}", option=e.option) from None


def _start(first, warped):
  """Frame t's start and temporal target: the previous stylised frame warped, in the
  space the optimisation sees (luminance control: its luminance, as gray RGB)."""
  if first.settings.color_control == "luminance":
    return color.as_gray_rgb(color.luminance(warped))
  return np.asarray(warped, np.float32)


def _blended_start(plan, prepared, warped, weights, t):
  """Frame t's start: the previous stylised frame warped where the flow is reliable
  (c = 1), the frame's own --init where it is not (c = 0: new content entering at
  the border, disocclusions, motion boundaries), so that the border is not smeared
  by the warp's repeated edge. Frame 1: its --init as given."""
  if t == 1:
    return prepared.init
  optimize = single.optimizer()
  # This frame's own start where --init derives one from the images (its photograph
  # recoloured); else the run's (noise, the photograph, an image).
  own = single.derived_start(plan.first.options["init"], prepared.content,
                             prepared.styles, prepared.settings, prepared.shape)
  own = optimize.initial_image(plan.first.init if own is None else own,
                               prepared.content, prepared.styles[0],
                               prepared.settings.seed)
  c = np.asarray(weights, np.float32)[..., None]
  return (c * warped + (1 - c) * own).astype(np.float32)


def _pair(plan, out, t):
  """The flows and weights between frames t-1 and t: read from the cache when it is
  this pair's, else computed (and cached)."""
  a, b = plan.frames[t - 2], plan.frames[t - 1]
  key = hashlib.sha1(np.ascontiguousarray(a).tobytes() + np.ascontiguousarray(b)
                     .tobytes() + plan.flow.encode()).hexdigest()
  path = os.path.join(out["flows"], FLOW_NAME.format(t)) if out else None
  if path is not None and os.path.isfile(path):
    try:
      with np.load(path, allow_pickle=False) as data:
        if str(data["key"]) == key:
          return {k: data[k] for k in ("backward", "forward", "weights")}
    except (OSError, ValueError, KeyError):
      pass  # unreadable: computed again
  pair = flow_lib.pair(a, b, plan.flow)
  if path is not None:
    remove_stale_parts(path)
    buffer = io.BytesIO()
    np.savez(buffer, key=np.array(key), **pair)
    with atomic_path(path) as tmp:
      with open(tmp, "wb") as f:
        f.write(buffer.getvalue())
  return pair


def _masked_mse(a, b, weights):
  """sum c (a - b)^2 / (3 sum c): the mean squared change where c says it is
  reliable (0 where nothing is)."""
  c = np.asarray(weights, np.float64)[..., None]
  if c.sum() == 0:
    return 0.0
  diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
  return float((c * diff ** 2).sum() / (3 * c.sum()))


def _pending(t, out):
  return {"frame": t, "state": "pending",
          "image": (os.path.abspath(os.path.join(out["frames"], FRAME_NAME.format(t)))
                    if out else None)}


def _account(entry, result=None, record=None, state=None):
  """Frame entry of the clip's record from a run's Result or an earlier record."""
  summary = result.record["result"] if result is not None else record["result"]
  if result is not None:
    state = ("done" if not result.partial else
             "interrupted" if result.stopped == "interrupted" else "failed")
  entry.update(state=state, iterations=summary["iterations"],
               stopped=summary["stopped"], seconds=summary["seconds"],
               losses={k: summary["losses"].get(k) for k in
                       ("total", "content", "style", "tv", "temporal")})


def _record(plan, entries, state):
  done = sum(e["state"] in ("done", "done before") for e in entries)
  return {"nst_video": 1, "state": state, "identity": plan.identity,
          "frames_done": done, "fps": plan.fps,
          "frames": [{k: v for k, v in e.items() if k != "thumb"} for e in entries],
          "method": {"paper": "Ruder, Dosovitskiy & Brox, GCPR 2016",
                     "temporal": "short-term, 1/D sum c (x - warped previous)^2",
                     "init": f"frame 1: {flag('init')}; frame t: stylised t-1 warped",
                     "flow": plan.flow},
          "temporal_weight": plan.temporal_weight, "versions": records.versions(),
          "written": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _write_record(out, record):
  if out is not None:
    write_json(out["record"], record)


def _stopped(plan, out, entries, done_images, results, code, t, doing):
  """The VideoResult of a clip stopped by a signal in frame t, its record written."""
  total = len(plan.frames)
  with interrupts.held():  # the record says what was kept, whole
    record = _record(plan, entries, "interrupted")
    _write_record(out, record)
  kept = sum(e["state"] in ("done", "done before") for e in entries)
  frame = entries[t - 1] if t else None
  checkpoint = (out is not None and frame is not None and os.path.isfile(
      records.paths(os.path.join(out["frames"], FRAME_NAME.format(t)))["checkpoint"]))
  what = f"frames 1-{kept} are kept" if kept > 1 else (
      "frame 1 is kept" if kept == 1 else "no frame was finished")
  if checkpoint:
    what += f", and frame {t}'s partial image and checkpoint"
  message = (f"nst-video: interrupted in frame {t}/{total} while {doing}; {what}; "
             + ("run the same command again to continue" if out is not None else
                "give an output_dir to be able to continue"))
  return VideoResult(frames=done_images, record=record, paths=out, results=results,
                     signal_exit_code=code, message=message)


# --- The live page -------------------------------------------------------------------


def _rows(entries):
  rows = []
  for e in entries:
    losses = e.get("losses") or {}
    rows.append({"frame": e["frame"], "state": e["state"],
                 "iterations": e.get("iterations"), "style": losses.get("style"),
                 "temporal": losses.get("temporal"), "seconds": e.get("seconds"),
                 "image": e.get("thumb")})
  return rows


def _show(live, prepared, plan, t, entries, done_images):
  """Frame t on the live page (and the table of frames); the callback that shows its
  iterates, or None without a page."""
  if live is None:
    return None
  if done_images and t > 1 and not entries[t - 2].get("thumb"):
    entries[t - 2]["thumb"] = live.set_thumbnail(f"f{t - 1}", done_images[-1])
  entries[t - 1]["state"] = "running"
  live.set_jobs(_rows(entries), done=t - 1)
  return live.watch(prepared, _title(t, len(plan.frames)))


def _title(t, total):
  return f"nst-video: frame {t}/{total}"


def _frame_callback(callback, update, t):
  def each(it):
    if update is not None:
      update(it)
    if callback is not None:
      callback(t, it)
  return each

