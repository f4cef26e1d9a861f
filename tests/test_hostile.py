"""Hostile input (issue 23): each case is refused in one line (UserError in-process,
exit 2 from a command) with no traceback and no existing file changed, or gives the
right result. Most cases go through the library (nst.run.prepare, nst.batch, the
image reader), which never imports TensorFlow; a few through the commands to show
the CLI path."""

import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import types
import warnings
import zlib

from helpers import nst as nst_cli
from helpers import photograph
import numpy as np
from PIL import Image
import pytest

from nst import image
import nst
from nst.runs import batch
from nst.runs import figures
from nst.runs import jobs as jobs_lib
from nst.runs import plan as run
from nst.runs import records
from nst.runs import single

SMALL = dict(image_size=32, num_steps=2, content_layers=("relu2_1",),
             style_layers=("relu1_1", "relu2_1"))


def md5s(folder):
  """{relative path: md5} of every file under `folder`."""
  found = {}
  for root, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(root, name)
      if os.path.islink(path):  # a link is its target's name, not its contents
        found[os.path.relpath(path, folder)] = "-> " + os.readlink(path)
        continue
      with open(path, "rb") as f:
        found[os.path.relpath(path, folder)] = hashlib.md5(f.read()).hexdigest()
  return found


def refused(call, match, folder):
  """`call()` raises UserError: one line matching `match`; `folder` unchanged."""
  before = md5s(folder)
  with pytest.raises(nst.UserError) as e:
    call()
  message = str(e.value)
  assert "\n" not in message and re.search(match, message), message
  assert md5s(folder) == before
  return message


def assert_cli_refused(result, program, match, folder, before):
  assert result.returncode == 2, (result.stdout, result.stderr)
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(f"{program}: error: "), result.stderr
  assert re.search(match, lines[0]), lines[0]
  assert "Traceback" not in result.stderr and "Warning" not in result.stderr
  assert md5s(folder) == before


def no_tensorflow_since(loaded_before):
  """TensorFlow was not imported by the checks (if it was not already loaded)."""
  return loaded_before or "tensorflow" not in sys.modules


@pytest.fixture
def folder(tmp_path, monkeypatch):
  """A photograph, an artwork, a mask and a start image in the working folder."""
  monkeypatch.chdir(tmp_path)
  image.save_image("photo.png", photograph(40))
  image.save_image("art.png", photograph(36)[::-1])
  mask = np.zeros((40, 40, 3), np.float32)
  mask[:, :20] = 255  # the left half
  image.save_image("mask.png", mask)
  image.save_image("start.png", photograph(40)[:, ::-1])
  return tmp_path


def png_header(width, height):
  """A PNG that declares width x height px (8-bit RGB) and has no pixel data: what a
  reader sees of a decompression bomb before decoding it."""
  ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
  return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr
          + struct.pack(">I", zlib.crc32(ihdr)) + b"\x00\x00\x00\x00IEND\xaeB`\x82")


# --- 1, 2: a run never writes onto its inputs ----------------------------------


@pytest.mark.parametrize("output,options,match", [
    ("photo.png", {}, r"'photo.png' \(the run's image\) would replace --content_image "
                      r"'photo.png'"),
    ("./art.png", {}, "would replace --style_image 'art.png'"),
    ("mask.png", dict(content_masks="mask.png"), "would replace --content_masks"),
    ("mask.png", dict(content_masks="~mask.png"), "would replace --content_masks"),
    ("start.png", dict(init="start.png"), "would replace --init 'start.png'"),
])
def test_the_output_is_never_an_input_whatever_overwrite_says(folder, output, options,
                                                              match):
  refused(lambda: run.prepare("photo.png", "art.png", output, overwrite=True,
                              **SMALL, **options), match, folder)
  run.prepare("photo.png", "art.png", "photo.jpg", **SMALL)  # another file: fine


def test_links_and_the_files_beside_levels_and_combined_styles_are_inputs_too(folder):
  os.link("photo.png", "hard.png")
  os.symlink(os.path.abspath("art.png"), "soft.png")
  refused(lambda: run.prepare("photo.png", "art.png", "hard.png", overwrite=True,
                              **SMALL), "'hard.png' .* would replace --content_image",
          folder)
  refused(lambda: run.prepare("photo.png", "art.png", "soft.png", overwrite=True,
                              **SMALL), "would replace --style_image", folder)
  os.rename("mask.png", "out_loss.png")
  refused(lambda: run.prepare("photo.png", "art.png", "out.png", overwrite=True,
                              content_masks="out_loss.png", **SMALL),
          r"'out_loss.png' \(the run's loss plot\) would replace --content_masks",
          folder)
  os.rename("art.png", "x_level2.png")
  refused(lambda: run.prepare("photo.png", "x_level2.png", "x.png", overwrite=True,
                              pyramid="24:1,32:1", content_layers=("relu2_1",),
                              style_layers=("relu1_1", "relu2_1")),
          r"level 2's image\) would replace --style_image", folder)
  os.rename("x_level2.png", "y_style.png")
  refused(lambda: run.prepare("photo.png", "start.png", "y.png", overwrite=True,
                              fine_style_image="y_style.png", **SMALL),
          r"combined style image's image\) would replace --fine_style_image", folder)
  os.makedirs("z_steps")
  os.rename("y_style.png", "z_steps/step_00001.png")
  refused(lambda: run.prepare("photo.png", "z_steps/step_00001.png", "z.png",
                              save_per_step=1, **SMALL),
          "a step image.* would replace --style_image", folder)


def test_the_api_refuses_to_overwrite_its_content_image(folder):
  refused(lambda: nst.transfer("photo.png", "art.png", "./photo.png", overwrite=True,
                               **SMALL), "would replace --content_image", folder)


def test_nst_refuses_its_own_content_image_as_output_in_one_line(folder):
  before = md5s(folder)
  result = nst_cli("--content_image=photo.png", "--style_image=art.png",
                   "--output=photo.png", "--overwrite", "--image_size=32",
                   cwd=folder)
  assert_cli_refused(result, "nst", "would replace --content_image 'photo.png'",
                     folder, before)


def jobs_file(folder, rows, name="jobs.jsonl"):
  path = folder / name
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  return str(path)


def test_nst_batch_never_replaces_the_photograph_of_its_manifest(folder):
  """Issue 23.1: output "photo.png" into the photograph's folder."""
  manifest = jobs_file(folder, [{"content": "photo.png", "style": "art.png",
                                 "output": "photo.png"}])
  before = md5s(folder)
  result = subprocess.run(
      [sys.executable, "-m", "nst.cli.batch", f"--manifest={manifest}",
       f"--output_dir={folder}", "--overwrite", "--image_size=32"],
      capture_output=True, text=True, cwd=folder, timeout=600, check=False)
  assert_cli_refused(result, "nst-batch",
                     "output .*photo.png' would replace .*jobs.jsonl:1: content",
                     folder, before)


def test_nst_batch_refuses_a_job_that_writes_onto_another_jobs_input_or_the_manifest(
    folder):
  jobs = jobs_lib.read_manifest(jobs_file(folder, [
      {"content": "photo.png", "style": "art.png", "output": "one.png"},
      {"content": "start.png", "style": "art.png", "output": "photo.png"}]))
  refused(lambda: batch.run_batch(jobs, str(folder), SMALL, overwrite=True),
          "jobs.jsonl:2: output .* would replace .*jobs.jsonl:1: content", folder)
  jobs = jobs_lib.read_manifest(jobs_file(folder, [
      {"content": "photo.png", "style": "art.png", "content_masks": "mask.png",
       "output": "mask.png"}]))
  refused(lambda: batch.run_batch(jobs, str(folder), SMALL, overwrite=True),
          "would replace .*jobs.jsonl:1: content_masks", folder)
  # A .json manifest named summary.json in --output_dir would be the batch's summary.
  manifest = jobs_file(folder, [{"content": "photo.png", "style": "art.png"}],
                       "summary.json")
  refused(lambda: batch.run_batch(jobs_lib.read_manifest(manifest), str(folder), SMALL,
                                  overwrite=True, manifest=manifest),
          "the batch's summary .* would replace --manifest", folder)


def test_nst_batch_replaces_only_what_nst_wrote_unless_overwrite(folder):
  jobs = jobs_lib.read_manifest(jobs_file(folder, [
      {"content": "photo.png", "style": "art.png", "output": "result.png"}]))
  (folder / "result.png").write_bytes(b"the user's own file")
  refused(lambda: batch.run_batch(jobs, str(folder), SMALL),
          "result.png' exists and nst did not write it .* pass --overwrite", folder)
  # Beside a record of nst's naming it, the image is nst's: a rerun may replace it.
  (folder / "result.json").write_text(json.dumps(
      {"nst": 1, "result": {"image": "/elsewhere/result.png"}}))
  assert batch.nst_wrote(str(folder / "result.png"))
  (folder / "result.json").write_text(json.dumps({"result": {"image": "x.png"}}))
  assert not batch.nst_wrote(str(folder / "result.png"))
  (folder / "summary.json").write_text("my notes")
  os.remove(folder / "result.png")
  os.remove(folder / "result.json")
  refused(lambda: batch.run_batch(jobs, str(folder), SMALL),
          "holds a summary.json or sheet.png that nst-batch did not write", folder)


def test_a_figure_cell_never_writes_onto_its_mask(folder, weights_path):
  cell = figures.Cell(name="mask", row=0, col=0, content=photograph(32),
                      style=photograph(32)[::-1],
                      options=dict(SMALL, content_masks=str(folder / "mask.png")))
  refused(lambda: figures.run_cells([cell], str(folder), weights_path,
                                    overwrite=True),
          "would replace .*content_masks", folder)


# --- 4, 8: image files ---------------------------------------------------------


def test_a_red_cmyk_jpeg_reads_red(tmp_path):
  path = str(tmp_path / "red.jpg")
  Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)
  loaded = image.load_image(path)
  np.testing.assert_allclose(loaded.reshape(-1, 3).mean(0), [255, 0, 0], atol=3)


@pytest.mark.parametrize("mode,value,expected", [
    ("LA", (100, 7), [100, 100, 100]),
    ("I;16", 65535, [255, 255, 255]),
    ("1", 1, [255, 255, 255]),
])
def test_gray_alpha_16_bit_and_bilevel_files_read_as_rgb(tmp_path, mode, value,
                                                         expected):
  path = str(tmp_path / "x.png")
  Image.new(mode, (4, 4), value).save(path)
  np.testing.assert_allclose(image.load_image(path)[0, 0], expected, atol=1e-3)


@pytest.mark.parametrize("mode,name", [("F", "32-bit floats"),
                                       ("I", "32-bit integers")])
def test_float_and_32_bit_files_are_refused_by_their_mode(tmp_path, mode, name):
  Image.new(mode, (4, 4), 3).save(tmp_path / "x.tif")
  refused(lambda: image.load_image(str(tmp_path / "x.tif"), "style_image"),
          f"--style_image: .*x.tif' has pixels of Pillow mode '{mode}' \\({name}\\)",
          tmp_path)


def test_a_144_megapixel_png_is_refused_from_its_header_without_a_warning(tmp_path):
  (tmp_path / "huge.png").write_bytes(png_header(12000, 12000))
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    message = refused(lambda: image.load_image(str(tmp_path / "huge.png"),
                                               "content_image"),
                      r"huge.png' is 12000x12000 px \(144 megapixels\), more than nst "
                      r"reads \(at most 67.1 megapixels", tmp_path)
  assert not caught, [str(w.message) for w in caught]
  assert "downscale it" in message


def test_nst_refuses_a_huge_png_in_one_line_without_pillows_warning(folder):
  (folder / "huge.png").write_bytes(png_header(12000, 12000))
  before = md5s(folder)
  result = nst_cli("--content_image=huge.png", "--style_image=art.png",
                   "--image_size=32", cwd=folder)
  assert_cli_refused(result, "nst", "huge.png' is 12000x12000 px", folder, before)


def test_a_jpeg_over_the_cap_is_decoded_reduced_when_the_run_needs_less(tmp_path,
                                                                     monkeypatch):
  monkeypatch.setattr(image, "MAX_PIXELS", 40 * 40)  # image.py holds the cap
  image.save_image(str(tmp_path / "big.jpg"), photograph(64))
  image.save_image(str(tmp_path / "big.png"), photograph(64))
  drafted = image.load_image(str(tmp_path / "big.jpg"), need=16)
  assert drafted.shape == (16, 16, 3)  # libjpeg's 1/4 scale, still >= 16
  refused(lambda: image.load_image(str(tmp_path / "big.jpg"), "style_image"),
          "64x64 px", tmp_path)  # no size known: refused
  refused(lambda: image.load_image(str(tmp_path / "big.png"), need=16), "64x64 px",
          tmp_path)  # a PNG can't be decoded reduced


# --- 5, 6: the Python API's arrays and options -----------------------------------


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint16, np.int16, np.uint8])
def test_integer_arrays_are_taken_at_face_value(dtype):
  pixels = (photograph(32)).round().astype(dtype)
  np.testing.assert_array_equal(image.to_rgb(pixels), pixels.astype(np.float32))
  prepared = run.prepare(pixels, pixels, **SMALL)
  np.testing.assert_allclose(prepared.content, pixels, atol=1e-3)


@pytest.mark.parametrize("values,match", [
    (np.array([[0, 300]], np.int64), "the array holds integers in 0-300, outside 0-255"),
    (np.array([[-1, 20]], np.int32), "the array holds integers in -1-20, outside 0-255"),
    (np.array([[0, 65535]], np.uint16), "the array holds integers in 0-65535, outside 0-255"),
    (np.array([["a", "b"]]), "an array of <U1 is not an image"),
])
def test_arrays_of_other_values_are_refused_with_their_range(tmp_path, values, match):
  refused(lambda: run.prepare(np.tile(values, (32, 16)), photograph(32), **SMALL),
          "--content_image: " + match, tmp_path)


@pytest.mark.parametrize("options,match", [
    (dict(image_size="big"), r"--image_size='big' is not a valid value .* give an "
                             "integer"),
    (dict(image_size=5.5), "--image_size=5.5 is not a valid value"),
    (dict(num_steps=True), "--num_steps=True is not a valid value"),
    (dict(alpha=[1]), r"--alpha=\[1\] is not a valid value \(not a number\)"),
    (dict(overwrite="maybe"), "--overwrite='maybe' .* give true or false"),
    (dict(style_layers=5), "--style_layers=5 .* give a comma list of names"),
    (dict(content_layers="relu4_2,relu9_9"), "relu9_9.*valid layers are"),
    (dict(eval_mode=3), "--eval_mode=3 is not a valid value"),
    (dict(vgg_weights=1), "--vgg_weights=1 .* give a path"),
    (dict(style_blend_weights="one"), "--style_blend_weights='one'"),
    (dict(preset=["x"]), "--preset must be one of"),
])
def test_options_of_the_wrong_type_are_refused_naming_the_option(tmp_path, options,
                                                                 match):
  pixels = photograph(32)
  refused(lambda: run.prepare(pixels, pixels, **dict(SMALL, **options)), match,
          tmp_path)


def test_option_text_is_read_as_the_command_reads_its_flags():
  pixels = photograph(32)
  prepared = run.prepare(pixels, pixels, **dict(
      SMALL, num_steps="5", alpha="1e-2", image_size=np.int64(32),
      content_layers="relu2_1", style_layers="relu1_1, relu2_1", plot="false"))
  settings = prepared.settings
  assert (settings.num_steps, settings.alpha) == (5, 0.01)
  assert settings.content_layers == ("relu2_1",)
  assert settings.style_layers == ("relu1_1", "relu2_1")
  assert prepared.options["plot"] is False and prepared.shape == (32, 32)


# --- 7: manifests ------------------------------------------------------------------


def test_a_csv_manifest_with_a_byte_order_mark_is_read(folder):
  (folder / "jobs.csv").write_bytes(
      "content,style,alpha\r\nphoto.png,art.png,1e-3\r\n".encode("utf-8-sig"))
  [job] = jobs_lib.read_manifest(str(folder / "jobs.csv"))
  assert job.content == str(folder / "photo.png") and job.options == {"alpha": 1e-3}


@pytest.mark.parametrize("row,match", [
    ({"content": "photo.png", "style": "art.png", "output": "../up.png"},
     "output '../up.png' must be a file name"),
    ({"content": "photo.png", "style": "art.png", "output": "/tmp/x.png"},
     "output '/tmp/x.png' must be a file name"),
    ({"content": "photo.png", "style": "art.png", "num_steps": "many"},
     "num_steps='many' is not a valid value"),
    ({"content": "photo.png", "style": "art.png", "\ufeffalpha": 1},
     "unknown key"),
])
def test_manifest_lines_that_already_were_refused_still_are(folder, row, match):
  path = jobs_file(folder, [row])
  refused(lambda: jobs_lib.read_manifest(path), "jobs.jsonl:1: " + match, folder)


# --- 9: checkpoints ----------------------------------------------------------------


def checkpoint_refused(folder, content, match):
  """A corrupt or foreign checkpoint beside out.png is refused by prepare, before
  TensorFlow loads."""
  (folder / "out.ckpt.npz").write_bytes(content)
  loaded_before = "tensorflow" in sys.modules
  message = refused(lambda: run.prepare("photo.png", "art.png", "out.png",
                                        resume=True, **SMALL), match, folder)
  assert no_tensorflow_since(loaded_before)
  assert "allow_pickle" not in message


def npz(**arrays):
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  return buffer.getvalue()


META = np.frombuffer(json.dumps({"history": [], "elapsed": 0}).encode(), np.uint8)


@pytest.mark.parametrize(argnames="content,match", ids=[
    "empty", "text", "pickle", "truncated zip", "no meta", "no state", "wrong shape"
], argvalues=[
    (b"", r"not a readable checkpoint \(not an .npz archive\)"),
    (b"garbage" * 100, "not an .npz archive"),
    (None, "not an .npz archive"),  # a pickle: numpy would talk of allow_pickle
    (b"PK\x03\x04 truncated", "not a readable checkpoint"),
    (npz(position=np.zeros((1, 5))), "not a readable checkpoint"),  # no meta
    (npz(__meta__=META, position=np.zeros((1, 5))), "it lacks converged"),
    (npz(__meta__=META, **{name: np.zeros((1, 5)) for name in records.STATE_ARRAYS}),
     r"its position has shape \(1, 5\), not the run's 3072 values"),
])
def test_a_corrupt_checkpoint_is_refused_before_tensorflow(folder, content, match):
  if content is None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    content = buffer.getvalue()
  checkpoint_refused(folder, content, match)


def test_a_checkpoint_of_other_settings_is_refused_before_tensorflow(folder):
  size = 32 * 32 * 3
  arrays = {name: np.zeros((1, size), np.float32) for name in records.STATE_ARRAYS}
  meta = dict(json.loads(META.tobytes()), settings={}, shape=[32, 32])
  records.save_checkpoint(str(folder / "out.ckpt.npz"), arrays, meta)
  checkpoint_refused(folder, (folder / "out.ckpt.npz").read_bytes(),
                     "was made with different settings")


def test_nst_refuses_a_corrupt_checkpoint_in_one_line(folder):
  (folder / "out.ckpt.npz").write_bytes(b"not a checkpoint")
  before = md5s(folder)
  result = nst_cli("--content_image=photo.png", "--style_image=art.png",
                   "--output=out.png", "--resume", "--image_size=32", cwd=folder)
  assert_cli_refused(result, "nst", "out.ckpt.npz' is not a readable checkpoint",
                     folder, before)


# --- 10: what a killed run leaves ----------------------------------------------------


def test_a_rerun_removes_a_killed_runs_temporary_files_and_later_steps(folder,
                                                                        weights_path):
  (folder / ".out.png.k1ll3d.part.png").write_bytes(b"")
  (folder / ".out.json.x.part.json").write_bytes(b"{")
  (folder / ".other.png.x.part.png").write_bytes(b"")  # another output's: kept
  steps = folder / "out_steps"
  steps.mkdir()
  for name in ("step_00001.png", "step_00020.png", ".step_00030.png.x.part.png"):
    (steps / name).write_bytes(b"a killed run's")
  (steps / "notes.txt").write_text("the user's")
  result = nst.transfer("photo.png", "art.png", "out.png", save_per_step=1,
                        vgg_weights=weights_path, preset="original", **SMALL)
  assert result.stopped == "num_steps"
  assert sorted(n for n in os.listdir(folder) if n.startswith(".")) == [
      ".other.png.x.part.png"]
  assert sorted(os.listdir(steps)) == ["notes.txt", "step_00001.png"]
  assert (steps / "step_00001.png").read_bytes() != b"a killed run's"


def test_resuming_removes_only_the_steps_after_the_checkpoint(tmp_path):
  for k in (10, 20, 30):
    (tmp_path / f"step_{k:05d}.png").write_bytes(b"x")
  prepared = types.SimpleNamespace(output=None, step_dir=str(tmp_path))
  single.clear_stale(prepared, resumed_at=20)
  assert sorted(os.listdir(tmp_path)) == ["step_00010.png", "step_00020.png"]


# --- cases that already held ---------------------------------------------------------


@pytest.mark.parametrize("content,match", [
    ("missing.png", "no such file 'missing.png'"),
    (".", "'.' is a directory"),
    ("empty.png", "cannot read 'empty.png' as an image"),
    ("text.png", "cannot read 'text.png' as an image"),
])
def test_broken_images_are_refused(folder, content, match):
  (folder / "empty.png").write_bytes(b"")
  (folder / "text.png").write_text("not an image")
  refused(lambda: run.prepare(content, "art.png", "out.png", **SMALL),
          "--content_image: " + match, folder)


@pytest.mark.parametrize("options,match", [
    (dict(no_such_option=1), "unknown option no_such_option"),
    (dict(alpha=-1.0), "--alpha must be a finite number >= 0"),
    (dict(style_layers=("relu6_1",)), "relu6_1"),
])
def test_bad_values_are_refused(folder, options, match):
  refused(lambda: run.prepare("photo.png", "art.png", "out.png",
                              **dict(SMALL, **options)), match, folder)


def test_an_existing_result_is_kept_without_overwrite(folder):
  (folder / "out.png").write_bytes(b"an earlier result")
  refused(lambda: run.prepare("photo.png", "art.png", "out.png", **SMALL),
          "'out.png' exists; pass --overwrite", folder)
