"""The `nst` command end to end, and its answers to bad input."""

import json
import os
import re
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from helpers import assert_refused
from helpers import nst
from helpers import photograph
from nst import image
from nst.engine import weights


@pytest.fixture(scope="module")
def images(tmp_path_factory):
  folder = tmp_path_factory.mktemp("images")
  content = str(folder / "photo.png")
  style = str(folder / "art.jpg")
  image.save_image(content, photograph(40))
  image.save_image(style, photograph(64)[::-1, ::-1])
  return content, style


def test_end_to_end_writes_a_stylised_image_and_steps(tmp_path, images, weights_path):
  content, style = images
  flagfile = tmp_path / "run.flags"  # --flagfile works like any absl program
  flagfile.write_text(f"--content_image={content}\n--style_image={style}\n"
                      "--image_size=32\n--num_steps=6\n")
  out = tmp_path / "result" / "out.png"
  result = nst(f"--flagfile={flagfile}", "--init=content", f"--output={out}",
               "--save_per_step=3", f"--vgg_weights={weights_path}")
  assert result.returncode == 0, result.stderr
  assert out.is_file()
  produced = image.load_image(str(out))
  start = image.resize(image.load_image(content), (32, 32))
  assert produced.shape == (32, 32, 3)
  assert np.abs(produced - start).mean() > 1.0  # it moved away from its init
  steps = sorted(os.listdir(tmp_path / "result" / "out_steps"))
  assert steps == ["step_00003.png"]  # the final step is the output itself
  progress = [l for l in result.stdout.splitlines() if l.startswith("step ")]
  assert [l.split()[1] for l in progress] == ["0/6", "3/6", "6/6"]
  assert all(k in progress[-1] for k in ("evals", "content", "style", "total", "eta"))
  assert f"wrote {out}" in result.stdout


def test_main_job_runs_on_bundled_samples(tmp_path, weights_path):
  result = nst("--image_size=24", "--num_steps=2", cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  assert "chelsea.png" in result.stdout and "ihc.png" in result.stdout
  # chelsea.png is 451x300: longest side 24 -> 24x16.
  assert image.load_image(str(tmp_path / "stylized.png")).shape == (16, 24, 3)


BAD = [
    (["--content_image=missing.png"], "missing.png"),
    (["--content_image={text}"], "cannot read"),
    (["--style_image={dir}"], "is a directory"),
    (["--style_layers=relu1_1,relu6_1"], "relu6_1.*valid layers are: conv1_1"),
    (["--style_layer_weights=0.5,0.5"], "2 values but --style_layers has 5"),
    (["--content_layer_weights=x"], "--content_layer_weights"),
    (["--alpha=-1"], "--alpha must be a finite number >= 0"),
    (["--beta=nan"], "--beta must be a finite number >= 0"),
    (["--style_layer_weights=1,1,1,1,inf"], "--style_layer_weights must be a finite"),
    (["--alpha=0", "--beta=0"], "both 0"),
    (["--image_size=12"], "relu5_1 needs at least 16 px"),
    (["--image_size=-5"], "--image_size must be >= 0"),
    (["--num_steps=0"], "--num_steps must be at least 1"),
    (["--save_per_step=0"], "--save_per_step"),
    (["--output={blocked}/out.png"], "--output: cannot write to directory"),
    (["--output=out.gif"], "must end in one of .png"),
    (["--init=nowhere.png"], "--init: .nowhere.png. is neither one of random"),
    (["--pooling=median"], "--pooling"),
    (["--precision=float16"], "--precision"),
    (["--line_search=wolfe"], "--line_search"),
    (["--style_strength=1.5"], "--style_strength must be a number in"),
    (["--style_strength=0.5", "--alpha=1e-3"], "give one of them, not both"),
    (["--style_min_positions=-2"], "--style_min_positions must be >= 0"),
    (["--pyramid=0.5x:10,0.8x:5"], "the last relative level must be 1x"),
    (["--normalize_vgg", "--normalize_images={dir}"],
     "--normalize_images: no .png/.jpg images"),
    (["--no_such_flag=1"], "no_such_flag"),
    (["--preset=fast"], "--preset"),
    (["--style_layer_weights=bogus"], "--style_layer_weights: 'bogus' is neither"),
    (["--tv_weight=-1"], "--tv_weight must be a finite number >= 0"),
    (["--style_blend_weights=1,2"], "--style_blend_weights has 2 values but 1 style"),
    (["--style_scale=0"], "--style_scale must be a number in"),
    (["--color_control=sepia"], "--color_control"),
    (["--style_image={dir},{dir}"], "is a directory"),
    (["--vgg_weights=missing.h5"], "--vgg_weights: no such file"),
    # Hostile image files, made by the fixture below.
    (["--content_image={empty}"], "cannot read .*empty.jpg"),
    (["--style_image={truncated}"], "cannot read .*truncated.jpg"),
    (["--content_image={tiny}"], "tiny.png' is 1x1 px; .* at least 16 px"),
    (["--style_image={sliver}"], "sliver.png' is 10000x10 px; .* at least 16 px"),
    (["--image_size=2000", "--content_image={sliver}"], "sliver.png' is 10000x10"),
    (["--content_image={bomb}"], "bomb.png. declares 10000 megapixels, more than nst"),
    (["--vgg_weights={corrupt}"], "md5.*nst-fetch-weights"),
    (["extra_argument"], "unexpected arguments"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(tmp_path, images, args,
                                                          message):
  content, style = images
  (tmp_path / "text.jpg").write_text("not an image")
  (tmp_path / "blocked").write_text("a file, so no directory can be made here")
  (tmp_path / "corrupt.h5").write_bytes(b"\x89HDF truncated")
  (tmp_path / "dir").mkdir()
  hostile = hostile_files(tmp_path)
  args = [a.format(text=tmp_path / "text.jpg", dir=tmp_path / "dir",
                   blocked=tmp_path / "blocked", corrupt=tmp_path / "corrupt.h5",
                   **hostile)
          for a in args]
  existing = tmp_path / "out.png"
  existing.write_bytes(b"an earlier result")
  base = [f"--content_image={content}", f"--style_image={style}", "--image_size=32",
          f"--output={existing}"]
  assert_refused(nst(*base, *args, cwd=tmp_path), message, existing)
  assert sorted(os.listdir(tmp_path)) == sorted(
      ["blocked", "corrupt.h5", "dir", "out.png", "text.jpg", "hostile"])
  assert sorted(os.listdir(tmp_path / "hostile")) == sorted(
      os.path.basename(p) for p in hostile.values())


def hostile_files(folder):
  """Image files a loader must refuse cleanly, generated here (never downloaded)."""
  folder = folder / "hostile"
  folder.mkdir()
  (folder / "empty.jpg").write_bytes(b"")
  good = folder / "good.jpg"
  image.save_image(str(good), photograph(64))
  data = good.read_bytes()
  good.unlink()
  (folder / "truncated.jpg").write_bytes(data[:len(data) // 3])
  image.save_image(str(folder / "tiny.png"), np.zeros((1, 1, 3), np.float32))
  image.save_image(str(folder / "sliver.png"), np.zeros((10, 10000, 3), np.float32))
  # A PNG whose header declares 100000 x 100000 px: a decompression bomb.
  ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
  chunk = b"IHDR" + ihdr
  (folder / "bomb.png").write_bytes(
      b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
      + struct.pack(">I", zlib.crc32(chunk)) + b"\x00\x00\x00\x00IEND\xaeB`\x82")
  return {"empty": folder / "empty.jpg", "truncated": folder / "truncated.jpg",
          "tiny": folder / "tiny.png", "sliver": folder / "sliver.png",
          "bomb": folder / "bomb.png"}


def test_normalised_bfloat16_run_records_the_normalisation(tmp_path, images,
                                                           weights_path):
  content, style = images
  local = tmp_path / "vgg" / os.path.basename(weights_path)
  local.parent.mkdir()
  os.symlink(weights_path, local)
  result = nst(f"--content_image={content}", f"--style_image={style}",
               "--image_size=32", "--num_steps=5", "--normalize_vgg",
               f"--normalize_images={content},{style}", "--precision=bfloat16",
               "--loss_convention=authors", f"--vgg_weights={local}",
               f"--output={tmp_path / 'n.png'}")
  assert result.returncode == 0, result.stderr
  record = json.loads((tmp_path / "n.json").read_text())
  normalization = record["weights"]["normalization"]
  assert [i["path"] for i in normalization["images"]] == [content, style]
  assert os.path.dirname(normalization["cache"]) == str(local.parent)
  assert record["settings"]["precision"] == "bfloat16"
  assert record["result"]["iterations"] == 5


def test_missing_weights_are_a_clear_error(tmp_path, images, monkeypatch):
  monkeypatch.setenv("NST_VGG_DIR", str(tmp_path / "empty"))
  monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
  content, style = images
  result = nst(f"--content_image={content}", f"--style_image={style}",
               f"--output={tmp_path / 'o.png'}")
  assert result.returncode == 2
  assert "run nst-fetch-weights" in result.stderr
  assert weights.FILENAME in result.stderr


@pytest.mark.parametrize("program,expected", [
    (["-m", "nst"], ["--content_image", "--preset", "--alpha", "--serve"]),
    (["-m", "nst.cli.batch"], ["--manifest", "--executor", "--alpha", "--serve"]),
    ([os.path.join(os.path.dirname(__file__), "..", "scripts", "figure4.py")],
     ["--images_dir", "--quick", "--executor", "--serve"])])
def test_help_lists_the_programs_own_flags(program, expected):
  result = subprocess.run([sys.executable, *program, "--help"], capture_output=True,
                          text=True, timeout=600, check=False)
  assert result.returncode == 1, result.stderr  # absl's --help exits with 1
  listed = set(re.findall(r"^  --(?:\[no\])?(\w+)", result.stdout, re.M))
  assert {flag[2:] for flag in expected} <= listed, result.stdout[:500]
  assert "--run_with_pdb" not in result.stdout  # absl's own stay in --helpfull
