"""nst-video (issue 25): optical flow and warping on a known translation, Ruder et al.'s
consistency weights and temporal loss against hand computation, a 4-frame clip end to
end, an interrupt in frame 3 continued to the uninterrupted result, bad input in one
line (exit 2).

The interrupt is race-free as in test_interrupts.py: tests/pause_entry.py waits for a
signal on entering the phase "step" the 8th time (frames of 10 steps reported every
5 enter it at steps 0, 5 and 10: the 8th is frame 3's step 5), and the test sends it
once the program says so.
"""

import json
import os
import signal
import subprocess
import sys

from helpers import photograph
from helpers import with_ctrl_c  # pylint: disable=g-bad-import-order
import numpy as np
import pytest

from nst import image
import nst
from nst.runs import records
from nst.video import clip as clip_lib
from nst.video import flow as flow_lib
from nst.video import loop
from nst.video import synthetic
import nst.video

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PAUSE_ENTRY = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "pause_entry.py")
# Small and shallow, plainly evaluated: a frame costs a fraction of a second; the
# temporal weight large enough, under these sums, to act on the frames.
SMALL = dict(preset="original", image_size=32, num_steps=10, report_every=5,
             content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
             alpha=1e-3, eval_mode="plain")
TEMPORAL_WEIGHT = 1e3
SMALL_FLAGS = ["--preset=original", "--image_size=32", "--num_steps=10",
               "--report_every=5", "--content_layers=relu2_1",
               "--style_layers=relu1_1,relu2_1", "--alpha=1e-3", "--eval_mode=plain",
               f"--temporal_weight={TEMPORAL_WEIGHT:g}"]


def textured(size):
  """The astronaut at `size` px, float RGB 0-255."""
  return photograph(size).astype(np.float32)


# --- Flow, warping, weights, the temporal loss ---------------------------------------


def test_warp_is_backward_warping_by_hand():
  rng = np.random.default_rng(0)
  picture = rng.uniform(0, 255, (6, 7, 3)).astype(np.float32)
  f = np.zeros((6, 7, 2), np.float32)
  f[..., 0], f[..., 1] = 2.0, 1.0  # out(y, x) = picture(y + 1, x + 2)
  out = flow_lib.warp(picture, f)
  np.testing.assert_allclose(out[:5, :5], picture[1:, 2:], rtol=0, atol=1e-4)
  np.testing.assert_allclose(out[5, 5], picture[5, 6], atol=1e-4)  # border repeated
  f[..., 0], f[..., 1] = 0.25, 0.0  # a quarter of the way to the right neighbour
  np.testing.assert_allclose(flow_lib.warp(picture, f)[:, :6],
                             0.75 * picture[:, :6] + 0.25 * picture[:, 1:], atol=1e-4)


@pytest.mark.parametrize("method", flow_lib.METHODS)
def test_flow_and_warp_recover_a_known_translation(method):
  big = textured(192)
  base = flow_lib.grid((64, 64, 2)) + np.float32([64, 64])
  shift = np.float32([2.5, -1.75])  # sub-pixel, in x and y
  a = flow_lib.sample(big, base)
  b = flow_lib.sample(big, base + shift)  # b(x) = a(x + shift): flow(b -> a) = shift
  inner = np.zeros((64, 64), bool)
  inner[6:-6, 6:-6] = True
  estimated = flow_lib.flow(b, a, method)
  error = flow_lib.endpoint_error(estimated, np.broadcast_to(shift, estimated.shape),
                                  inner)
  assert error < 0.5, (method, error)
  # Warped by the estimated flow, a is b (to well under a grey level on average,
  # where the texture is fine); by no flow, it is far off.
  warped = flow_lib.warp(a, estimated)
  assert np.abs(warped - b)[inner].mean() < 0.25 * np.abs(a - b)[inner].mean()


def test_consistency_weights_by_hand():
  """Zero where the back-and-forth check fails (a region disoccluded), where the
  flow leaves the image, on motion boundaries; one elsewhere."""
  height, width = 20, 24
  backward = np.zeros((height, width, 2), np.float32)
  backward[..., 0] = 3.0                    # frame t's x was at x + 3 in frame t-1
  forward = np.zeros((height, width, 2), np.float32)
  forward[..., 0] = -3.0                    # and frame t-1's x + 3 is at x in frame t
  forward[5:10, 8:14] = 0.0                 # ...except where frame t-1 was covered
  c = flow_lib.consistency(backward, forward)
  expected = np.ones((height, width), np.float32)
  expected[:, width - 3:] = 0               # x + 3 leaves the image (x > 20)
  # Disoccluded: x + 3 lands in the covered block (columns 8..13, so x in 5..10):
  # there w~ = 0 and |w~ + w^|^2 = 9 > 0.01 (0 + 9) + 0.5.
  expected[5:10, 5:11] = 0
  np.testing.assert_array_equal(c, expected)

  # A motion boundary: the left half still, the right half moving 4 px.
  backward = np.zeros((height, width, 2), np.float32)
  backward[:, 12:, 0] = 4.0
  forward = np.zeros_like(backward)
  forward[:, 16:, 0] = -4.0
  c = flow_lib.consistency(backward, forward)
  grad = 2.0 ** 2  # central difference of the 0 -> 4 step: 2 per px at columns 11, 12
  assert grad > 0.01 * 16 + 0.002
  assert (c[:, 11:13] == 0).all()           # the boundary
  assert (c[:, :10] == 1).all()             # the still half
  assert (c[:, 14:width - 4] == 1).all()    # the moving half, inside the image


def test_consistency_weights_are_zero_where_a_moving_square_uncovers_the_background():
  background = textured(64)
  square = textured(96)[30:46, 30:46]       # another texture, 16 px
  previous, current = background.copy(), background.copy()
  previous[24:40, 20:36] = square           # the square at x 20..35 ...
  current[24:40, 26:42] = square            # ... moved 6 px to the right
  pair = flow_lib.pair(previous, current)
  c = pair["weights"]
  uncovered = c[26:38, 21:25]               # visible in t, behind the square in t-1
  background_far = c[4:16, 4:60]
  assert uncovered.mean() < 0.1, uncovered.mean()
  assert background_far.mean() > 0.95, background_far.mean()


def test_temporal_loss_is_the_weighted_mean_squared_difference():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from nst.engine import losses  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  x = rng.uniform(0, 255, (2, 5, 6, 3)).astype(np.float32)
  w = rng.uniform(0, 255, (1, 5, 6, 3)).astype(np.float32)
  c = (rng.uniform(size=(1, 5, 6, 1)) > 0.4).astype(np.float32)
  got = losses.temporal_loss(tf.constant(x), tf.constant(w), tf.constant(c)).numpy()
  for b in range(2):
    by_hand = sum(c[0, i, j, 0] * (x[b, i, j, k] - w[0, i, j, k]) ** 2
                  for i in range(5) for j in range(6) for k in range(3)) / (5 * 6 * 3)
    np.testing.assert_allclose(got[b], by_hand, rtol=1e-5)


def test_the_problem_adds_temporal_weight_times_the_temporal_loss(vgg_weights):
  from nst import config  # pylint: disable=g-import-not-at-top
  from nst.engine import optimize  # pylint: disable=g-import-not-at-top
  settings = config.Settings(content_layers=("relu2_1",),
                             style_layers=("relu1_1", "relu2_1"), alpha=1e-3)
  content, style = textured(32), textured(32)[::-1].copy()
  rng = np.random.default_rng(2)
  target = rng.uniform(0, 255, (32, 32, 3)).astype(np.float32)
  weights = (rng.uniform(size=(32, 32)) > 0.5).astype(np.float32)
  x = rng.uniform(0, 255, (1, 32 * 32 * 3)).astype(np.float32)
  plain = optimize.Problem(content, style, settings, vgg_weights=vgg_weights)
  video = optimize.Problem(content, style, settings, vgg_weights=vgg_weights,
                           temporal=(target, weights, 7.0))
  a, b = plain.losses(x), video.losses(x)
  by_hand = float((weights[..., None] * (x.reshape(32, 32, 3) - target) ** 2).mean())
  np.testing.assert_allclose(float(b["temporal"][0]), by_hand, rtol=1e-5)
  np.testing.assert_allclose(float(b["total"][0]),
                             float(a["total"][0]) + 7.0 * by_hand, rtol=1e-5)
  assert "temporal" not in a  # runs without the term are what they were


def test_where_the_flow_is_unreliable_a_frame_starts_from_its_own_recoloured_self():
  """--init=content_recolored (the default preset's): where c = 0 frame t starts from
  frame t's photograph in the artwork's colours, not frame 1's; where c = 1 from the
  warped previous result."""
  from types import SimpleNamespace  # pylint: disable=g-import-not-at-top
  from nst.control import color  # pylint: disable=g-import-not-at-top
  from nst.runs import plan as run  # pylint: disable=g-import-not-at-top
  frames, _ = synthetic.astronaut_clip(2, 32)
  artwork = photograph(40)[::-1] * np.array([1.0, 0.6, 0.3], np.float32)
  first, second = (run.prepare(f, artwork, image_size=32, num_steps=1).run
                   for f in frames)
  assert first.options["init"] == "content_recolored"
  warped = np.full((32, 32, 3), 7.0, np.float32)
  weights = np.zeros((32, 32), np.float32)
  weights[:, 16:] = 1.0
  start = loop._blended_start(SimpleNamespace(first=first), second, warped, weights, 2)
  own = color.recolored(second.content, second.styles)
  np.testing.assert_allclose(start[:, :16], own[:, :16], atol=1e-4)
  np.testing.assert_array_equal(start[:, 16:], warped[:, 16:])
  assert np.abs(own - first.init)[:, :16].max() > 1.0  # frame 1's would fail it


def test_the_synthetic_clip_knows_its_flow():
  frames, camera = synthetic.astronaut_clip(24, 64)  # about 1 px a frame
  true = synthetic.true_flow(camera, 12, 11)
  assert 0.5 < np.abs(true).max() < 3
  estimated = flow_lib.flow(frames[12], frames[11])
  assert flow_lib.endpoint_error(estimated, true, flow_lib.inside(true)) < 0.5


# --- A clip end to end ------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
  """A 4-frame 32 px clip as a folder of PNG frames, and an artwork."""
  folder = tmp_path_factory.mktemp("clip")
  frames, _ = synthetic.astronaut_clip(4, 32)
  (folder / "frames").mkdir()
  for t, frame in enumerate(frames, 1):
    image.save_image(str(folder / "frames" / f"f{t}.png"), frame)
  image.save_image(str(folder / "s.png"), photograph(48)[::-1])
  return folder


@pytest.fixture(scope="module")
def whole(inputs, weights_path):
  """The clip stylised uninterrupted, through the Python API."""
  from nst.live import serve  # pylint: disable=g-import-not-at-top
  out = inputs / "whole"
  live = serve.Live()  # what --serve shows (not started: no server needed)
  result = nst.video.transfer(str(inputs / "frames"), str(inputs / "s.png"), str(out),
                              temporal_weight=TEMPORAL_WEIGHT, live=live, **SMALL)
  return result, out, live


def test_a_four_frame_clip_end_to_end(inputs, whole):
  result, out, live = whole
  assert result.complete and result.exit_code == 0 and len(result.frames) == 4
  record = json.loads((out / loop.RECORD).read_text())
  assert record["state"] == "done" and record["frames_done"] == 4
  assert [e["state"] for e in record["frames"]] == ["done"] * 4
  for t, entry in enumerate(record["frames"], 1):
    png = out / "frames" / f"frame_{t:05d}.png"
    np.testing.assert_array_equal(image.load_image(str(png)), result.frames[t - 1])
    frame_record = records.validate_record(json.loads(png.with_suffix(".json")
                                                      .read_text()))
    assert frame_record["result"]["iterations"] == 10
    assert entry["losses"]["temporal"] == frame_record["result"]["losses"]["temporal"]
    if t == 1:  # c = 0: the term adds nothing
      assert entry["losses"]["temporal"] == 0 and "reliable" not in entry
    else:  # the flow cached, most pixels reliable, the term acting
      assert (out / "flow" / f"pair_{t:05d}.npz").is_file()
      assert 0.3 < entry["reliable"] <= 1 and entry["losses"]["temporal"] > 0
  # Frame 1 is a plain run of nst from the clip's own --init, bitwise.
  alone = nst.transfer(image.load_image(str(inputs / "frames" / "f1.png")),
                       str(inputs / "s.png"), **SMALL)
  np.testing.assert_array_equal(alone.image, result.frames[0])
  # The mp4: 4 frames of 32x32, the stylised ones (H.264 is lossy, and halves the
  # colour resolution: compared on luminance; the frames differ by about 60).
  decoded, fps = clip_lib.read(str(out / loop.VIDEO))
  assert len(decoded) == 4 and decoded[0].shape == (32, 32, 3) and fps == 24
  luma = np.array([0.299, 0.587, 0.114])
  for mp4_frame, png_frame in zip(decoded, result.frames):
    assert np.abs(mp4_frame @ luma - png_frame @ luma).mean() < 10
  # The live page showed each frame's run and the table of frames.
  state = live.state()
  assert state["title"] == "nst-video: frame 4/4" and state["finished"]
  assert state["batch"]["done"] == 4 and state["batch"]["total"] == 4
  assert [row["state"] for row in state["jobs"]] == ["done"] * 4
  assert all(row["image"] for row in state["jobs"])  # a thumbnail of each frame
  # Run again: every frame done before, kept, nothing optimised.
  again = nst.video.transfer(str(inputs / "frames"), str(inputs / "s.png"), str(out),
                             temporal_weight=TEMPORAL_WEIGHT, **SMALL)
  assert [e["state"] for e in again.record["frames"]] == ["done before"] * 4
  assert again.results == [None] * 4
  for a, b in zip(again.frames, result.frames):
    np.testing.assert_array_equal(a, b)


def test_an_interrupt_in_frame_three_is_continued_to_the_uninterrupted_result(
    inputs, whole, tmp_path):
  result, _, _ = whole
  out = tmp_path / "cut"
  args = [f"--video={inputs / 'frames'}", f"--style_image={inputs / 's.png'}",
          f"--output_dir={out}", *SMALL_FLAGS]
  proc = subprocess.Popen(
      [sys.executable, PAUSE_ENTRY, "step:8", "video", "--", *args],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), preexec_fn=with_ctrl_c)
  before = []
  for line in proc.stderr:
    if line.startswith("paused at step:8"):
      proc.send_signal(signal.SIGINT)
      break
    before.append(line)
  _, err = proc.communicate(timeout=600)
  err = "".join(before) + err
  assert proc.returncode == 130, err
  lines = [line for line in err.splitlines() if line.strip()]
  assert len(lines) == 1 and "Traceback" not in err, err
  assert lines[0] == ("nst-video: interrupted in frame 3/4 while optimising; frames "
                      "1-2 are kept, and frame 3's partial image and checkpoint; run "
                      "the same command again to continue")
  record = json.loads((out / loop.RECORD).read_text())
  assert record["state"] == "interrupted"
  assert [e["state"] for e in record["frames"]] == ["done", "done", "interrupted",
                                                    "pending"]
  assert record["frames"][2]["iterations"] == 5
  frames = out / "frames"
  assert (frames / "frame_00003.ckpt.npz").is_file()
  assert not (frames / "frame_00004.png").exists() and not (out / loop.VIDEO).exists()
  flows = {t: (out / "flow" / f"pair_{t:05d}.npz").stat().st_mtime_ns for t in (2, 3)}

  again = nst_video(*args, cwd=tmp_path)
  assert again.returncode == 0, again.stderr
  assert "nst-video: frame 1/4: done before, kept" in again.stdout
  assert "nst-video: frame 3/4: continuing from its checkpoint" in again.stdout
  # The flows were read, not computed again; the clip is the uninterrupted one.
  assert flows == {t: (out / "flow" / f"pair_{t:05d}.npz").stat().st_mtime_ns
                   for t in (2, 3)}
  for t in range(1, 5):
    np.testing.assert_array_equal(image.load_image(str(frames / f"frame_{t:05d}.png")),
                                  result.frames[t - 1])
  record = json.loads((out / loop.RECORD).read_text())
  assert record["state"] == "done" and not (frames / "frame_00003.ckpt.npz").exists()
  frame3 = json.loads((frames / "frame_00003.json").read_text())
  assert [h["iteration"] for h in frame3["history"]] == [0, 5, 10]


# --- Bad input: one line, exit 2, nothing written -----------------------------------

WITHOUT = ("import sys; sys.modules[{module!r}] = None; sys.argv = ['nst-video'] + "
           "sys.argv[1:]; from nst.cli import video; video.run_main()")


def nst_video(*args, cwd, without=None):
  """`nst-video` with `args`; `without`: a module made unimportable (a missing
  extra)."""
  command = ([sys.executable, "-c", WITHOUT.format(module=without)] if without
             else [sys.executable, "-m", "nst.cli.video"])
  return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd,
                        timeout=600, check=False,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                                 PYTHONPATH=os.pathsep.join(
                                     [ROOT, os.environ.get("PYTHONPATH", "")])))


@pytest.mark.parametrize("case,message", [
    ("not a video", r"--video: cannot read 'clip\.mp4' as a video \(.*\); give a "
     r"video file .* or a folder of PNG/JPEG frames"),
    ("0 frames", r"--video: the folder 'empty' holds no frames \(no \.png, \.jpg or "
     r"\.jpeg files\)"),
    ("an image", r"--video: 'still\.png' is a single image, not a clip"),
    ("missing extra: opencv", r"optical flow needs OpenCV, which is not installed; "
     r"pip install 'nst\[video\]'"),
    ("missing extra: imageio-ffmpeg", r"--video: reading and writing video files "
     r"needs imageio-ffmpeg, which is not installed; pip install 'nst\[video\]'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, inputs, case, message):
  import re  # pylint: disable=g-import-not-at-top
  (tmp_path / "clip.mp4").write_text("not a video")
  (tmp_path / "empty").mkdir()
  image.save_image(str(tmp_path / "still.png"), photograph(32))
  out = tmp_path / "out"
  out.mkdir()
  (out / "video.json").write_text("an earlier result")
  video, without = {
      "not a video": ("clip.mp4", None), "0 frames": ("empty", None),
      "an image": ("still.png", None),
      "missing extra: opencv": (str(inputs / "frames"), "cv2"),
      "missing extra: imageio-ffmpeg": ("clip.mp4", "imageio_ffmpeg")}[case]
  result = nst_video(f"--video={video}", f"--style_image={inputs / 's.png'}",
                     "--output_dir=out", *SMALL_FLAGS, cwd=tmp_path, without=without)
  assert result.returncode == 2, (result.stdout, result.stderr)
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("nst-video: error: "), result.stderr
  assert re.search(message, lines[0]), lines[0]
  assert "Traceback" not in result.stderr
  assert os.listdir(out) == ["video.json"]
  assert (out / "video.json").read_text() == "an earlier result"


def test_the_api_raises_user_error_for_bad_input(tmp_path, inputs):
  with pytest.raises(nst.UserError, match="--video: the list of frames is empty"):
    nst.video.transfer([], str(inputs / "s.png"))
  with pytest.raises(nst.UserError, match="--temporal_weight must be a finite number"):
    nst.video.transfer(str(inputs / "frames"), str(inputs / "s.png"),
                       temporal_weight=-1.0)
  with pytest.raises(nst.UserError, match="--pyramid: coarse-to-fine levels are not "
                     "supported per frame"):
    nst.video.transfer(str(inputs / "frames"), str(inputs / "s.png"), pyramid="16:2")
  # Another clip's (or other settings') folder is not continued without overwrite.
  other = tmp_path / "other"
  nst.video.transfer(str(inputs / "frames"), str(inputs / "s.png"), str(other),
                     max_frames=1, **SMALL)
  with pytest.raises(nst.UserError, match="holds a clip stylised with other frame "
                     "count, frames; give the same inputs and flags to continue it"):
    nst.video.transfer(str(inputs / "frames"), str(inputs / "s.png"), str(other),
                       max_frames=2, **SMALL)
