"""Scale control by coarse-to-fine (--pyramid; Gatys et al., CVPR 2017): levels start
from the previous level's result upsampled, the record holds every level, bad values
are one-line errors, an interrupted run resumes in the level it stopped in, and
scripts/high_res.py compares single scale with coarse-to-fine."""

import io
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from helpers import paused_nst  # pylint: disable=g-bad-import-order
from helpers import with_ctrl_c  # pylint: disable=g-bad-import-order
from nst import image
from nst.control import coarse_to_fine as pyramid
from nst.runs import records
from nst.runs import plan as run
from nst.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STYLE = "style/starry_night.jpg"


@pytest.fixture(scope="module")
def pair(images_dir):
  return (os.path.join(images_dir, "content", "tubingen.jpg"),
          os.path.join(images_dir, STYLE))


def nst_args(*args):
  return [sys.executable, "-m", "nst", *args]


def run_nst(*args, cwd):
  return subprocess.run(nst_args(*args), capture_output=True, text=True, cwd=cwd,
                        timeout=900, check=False)


def test_parse_levels_and_refuse_bad_ones():
  assert pyramid.parse("24:10, 48:5") == [pyramid.Level(24, 10), pyramid.Level(48, 5)]
  assert pyramid.parse([(24, 10), (48, 5)]) == pyramid.parse("24:10,48:5")
  assert pyramid.text(pyramid.parse(" 24:10,48:5 ")) == "24:10,48:5"
  assert pyramid.parse("") == [] and pyramid.parse(None) == []
  # A level may be smaller than the one before (a small result's last level).
  assert pyramid.parse("48:5,24:5") == [pyramid.Level(48, 5), pyramid.Level(24, 5)]
  for bad in ("24:5,24:5", "24:5,48:5,48:3", "24", "24:5,", "a:b", "24:0", "0:5",
              "24:5:1", [(24, 5.0)], [(24,)], 5):
    with pytest.raises(UserError, match="--pyramid"):
      pyramid.parse(bad)


def test_relative_levels_follow_image_size_and_a_presets_give_way():
  from nst import config  # pylint: disable=g-import-not-at-top
  options = config.resolve_options(None, {})

  def resolved(pyramid_value, **given):
    given_names = dict(given, **({"pyramid": pyramid_value} if pyramid_value else {}))
    values = dict(options, pyramid=pyramid_value or "0.5x:30,1x:10", **given)
    return pyramid.resolve(values, given_names)

  # Given explicitly: relative to --image_size, the last level the result's size.
  levels, values = resolved("0.5x:30,1x:10", image_size=300)
  assert levels == [pyramid.Level(150, 30), pyramid.Level(300, 10)]
  assert values["pyramid"] == "150:30,300:10" and values["num_steps"] == 10
  # A preset's (no --pyramid given): the same, at whatever size was asked for ...
  assert pyramid.text(resolved(None, image_size=1000)[0]) == "500:30,1000:10"
  # ... but an explicit --num_steps, the photograph's own size, or (with no
  # --small_pyramid) a coarsest level under 128 px runs one scale (the preset's, or
  # the given, iterations).
  for given in (dict(num_steps=7), dict(image_size=0),
                dict(image_size=200, small_pyramid="")):
    levels, values = resolved(None, **given)
    assert levels == [] and values["pyramid"] == "", given
  assert resolved(None, num_steps=7)[1]["num_steps"] == 7
  for bad, message in (("0.5x:30,0.8x:10", "must be 1x"), ("1.5x:30,1x:10", r"\(0, 1\]"),
                       ("1x:10,0.5x:30", "must be 1x")):
    with pytest.raises(UserError, match=message):
      resolved(bad, image_size=300)
  with pytest.raises(UserError, match="drop --num_steps"):
    resolved("0.5x:30,1x:10", image_size=300, num_steps=5)
  with pytest.raises(UserError, match="--image_size > 0"):
    resolved("0.5x:30,1x:10", image_size=0)


def test_the_default_preset_runs_three_quarters_then_the_full_size():
  # Issue 22: the plain command at 512 px is 384 px x 300 then 512 px x 100
  # iterations; the quick start's --num_steps, or a size whose coarse level would be
  # under 128 px, runs one scale.
  from nst import config  # pylint: disable=g-import-not-at-top

  def levels(**given):
    return pyramid.resolve(config.resolve_options(None, given), given)

  assert levels() == ([pyramid.Level(384, 300), pyramid.Level(512, 100)],
                      levels()[1])
  assert levels()[1]["num_steps"] == 100 and levels()[1]["image_size"] == 512
  assert levels(image_size=256)[0] == [pyramid.Level(192, 300), pyramid.Level(256, 100)]
  for given in (dict(image_size=256, num_steps=100),
                dict(image_size=160, small_pyramid=""), dict(image_size=0)):
    none, values = levels(**given)
    assert none == [] and values["pyramid"] == ""
    assert values["num_steps"] == given.get("num_steps", 500)


def test_the_default_preset_lays_a_small_result_out_at_256_px_first():
  # Issue 21: under 256 px (where relu5_1 would have fewer than 16 positions) the
  # plain command runs 150 iterations at 256 px, then 25 at the result's size.
  from nst import config  # pylint: disable=g-import-not-at-top

  def levels(**given):
    return pyramid.resolve(config.resolve_options(None, given), given)

  for size in (64, 128, 255):
    small, values = levels(image_size=size)
    assert small == [pyramid.Level(256, 150), pyramid.Level(size, 25)], size
    assert values["image_size"] == size and values["num_steps"] == 25
    assert values["pyramid"] == f"256:150,{size}:25"
  assert levels(image_size=256)[0][0] == pyramid.Level(192, 300)
  # Given levels, or --num_steps, win; so does another preset's (none).
  assert levels(image_size=128, num_steps=40)[0] == []
  assert levels(image_size=128, pyramid="0.5x:5,1x:5")[0] == [
      pyramid.Level(64, 5), pyramid.Level(128, 5)]
  paper = pyramid.resolve(config.resolve_options("paper", {"image_size": 128}),
                          {"image_size": 128})
  assert paper[0] == []
  # A value of its own, at any number of levels, for results smaller than each.
  assert levels(image_size=100, small_pyramid="400:3,200:2,1x:1")[0] == [
      pyramid.Level(400, 3), pyramid.Level(200, 2), pyramid.Level(100, 1)]
  assert levels(image_size=200, small_pyramid="400:3,200:2,1x:1")[0] == [
      pyramid.Level(150, 300), pyramid.Level(200, 100)]  # the preset's relative ones
  for bad, message in (("256:150", "1x:iterations"), ("1x:25", "1x:iterations"),
                       ("256:150,0.5x:25", "1x:iterations"), ("256:0,1x:25", "at least 1"),
                       ("256:1,256:1,1x:2", "must differ")):
    with pytest.raises(UserError, match="--small_pyramid") as e:
      levels(image_size=512, small_pyramid=bad)  # refused whatever the size
    assert re.search(message, str(e.value)), (bad, str(e.value))


def test_a_small_result_starts_from_its_larger_level_downsampled(tmp_path, pair,
                                                                 weights_path):
  iterates = []
  result = run.transfer(*pair, str(tmp_path / "s.png"), image_size=32,
                        small_pyramid="48:5,1x:5", report_every=5,
                        callback=iterates.append, vgg_weights=weights_path)
  assert [(it.level, it.iteration) for it in iterates] == [(1, 0), (1, 5), (2, 0),
                                                           (2, 5)]
  level1_end, level2_start = iterates[1], iterates[2]
  assert level1_end.image.shape == (36, 48, 3) and level2_start.image.shape == (24, 32, 3)
  # Antialiased (Lanczos), as every other downsizing: not bilinear.
  np.testing.assert_array_equal(level2_start.image,
                                image.resize(level1_end.image, (24, 32)))
  assert not np.array_equal(level2_start.image,
                            image.resize(level1_end.image, (24, 32), "bilinear"))
  record = json.loads((tmp_path / "s.json").read_text())
  assert [(e["size"], e["shape"], e["num_steps"]) for e in record["levels"]] == [
      (48, [36, 48], 5), (32, [24, 32], 5)]
  assert record["shape"] == [24, 32] and result.image.shape == (24, 32, 3)
  # --num_steps given: one scale at the result's size.
  one = run.transfer(*pair, image_size=32, small_pyramid="48:5,1x:5", num_steps=2,
                     vgg_weights=weights_path)
  assert "levels" not in one.record and one.image.shape == (24, 32, 3)


def test_a_larger_level_keeps_the_results_style_layers(tmp_path, pair, weights_path):
  # --style_min_positions=16 (the default's): a 32 px result has relu1_1 (32
  # positions) and relu2_1 (16); a 64 px level alone would add relu3_1 (16), but as
  # a small result's first level it keeps the result's two, over more positions.
  # A coarse level smaller than the result keeps its own (fewer).
  def style_layers(record_path):
    return tuple(json.loads(record_path.read_text())["settings"]["style_layers"])

  run.transfer(*pair, str(tmp_path / "s.png"), image_size=32, small_pyramid="64:2,1x:2",
               vgg_weights=weights_path)
  assert style_layers(tmp_path / "s_level1.json") == ("relu1_1", "relu2_1")
  assert style_layers(tmp_path / "s.json") == ("relu1_1", "relu2_1")
  run.transfer(*pair, str(tmp_path / "a.png"), image_size=64, num_steps=2,
               vgg_weights=weights_path)
  assert style_layers(tmp_path / "a.json") == ("relu1_1", "relu2_1", "relu3_1")
  run.transfer(*pair, str(tmp_path / "c.png"), pyramid="32:2,64:2",
               vgg_weights=weights_path)
  assert style_layers(tmp_path / "c_level1.json") == ("relu1_1", "relu2_1")
  assert style_layers(tmp_path / "c.json") == ("relu1_1", "relu2_1", "relu3_1")


def test_level_two_starts_from_level_one_upsampled_and_the_record_has_every_level(
    tmp_path, pair, weights_path):
  iterates = []
  result = run.transfer(*pair, str(tmp_path / "p.png"), pyramid="24:10,48:10",
                        report_every=10, callback=iterates.append,
                        vgg_weights=weights_path)
  assert result.stopped == "num_steps" and not result.partial
  levels = [(it.level, it.num_levels, it.iteration) for it in iterates]
  assert levels == [(1, 2, 0), (1, 2, 10), (2, 2, 0), (2, 2, 10)]
  level1_end, level2_start = iterates[1], iterates[2]
  assert level1_end.image.shape == (18, 24, 3)  # the photograph is 4:3 landscape
  assert level2_start.image.shape == (36, 48, 3)
  # Exactly level 1's last iterate, upsampled bilinearly (and clipped to 0-255).
  upsampled = image.resize(level1_end.image, (36, 48), "bilinear")
  np.testing.assert_array_equal(level2_start.image, upsampled)

  # The upsampled coarse result is a better start at 48 px than the photograph:
  # compare with a 48 px run from it.
  photograph_start = run.transfer(*pair, image_size=48, num_steps=1, init="content",
                                  vgg_weights=weights_path).record["history"][0]
  assert level2_start.losses["total"] < photograph_start["total"]

  record = records.validate_record(json.loads((tmp_path / "p.json").read_text()))
  assert record["flags"]["pyramid"] == "24:10,48:10"
  assert record["flags"]["image_size"] is None and record["flags"]["num_steps"] is None
  assert "--pyramid=24:10,48:10" in record["argv"]
  assert not any(a.startswith(("--image_size", "--num_steps")) for a in record["argv"])
  assert record["shape"] == [36, 48]
  assert [(e["level"], e["size"], e["shape"], e["num_steps"], e["iterations"])
          for e in record["levels"]] == [(1, 24, [18, 24], 10, 10),
                                         (2, 48, [36, 48], 10, 10)]
  for entry, first, last in zip(record["levels"], iterates[::2], iterates[1::2]):
    assert entry["initial_losses"]["total"] == pytest.approx(first.losses["total"])
    assert entry["losses"]["total"] == pytest.approx(last.losses["total"])
    assert [h["iteration"] for h in entry["history"]] == [0, 10]
    assert entry["evaluations"] == last.evaluations >= 10
    assert entry["seconds"] == pytest.approx(last.elapsed, abs=1e-3)
    assert entry["stopped"] == "num_steps" and not entry["partial"]
    # Each level's own image and record beside the output.
    assert os.path.isfile(entry["image"]) and os.path.isfile(entry["record"])
    assert json.loads(open(entry["record"]).read())["shape"] == entry["shape"]
  summary = record["result"]
  assert summary["iterations"] == 20 and summary["levels"] == 2
  assert summary["evaluations"] == sum(e["evaluations"] for e in record["levels"])
  assert summary["seconds"] == pytest.approx(
      sum(e["seconds"] for e in record["levels"]), abs=2e-3)
  assert summary["losses"]["total"] == pytest.approx(iterates[-1].losses["total"])
  assert record["history"] == record["levels"][1]["history"]  # at the final size
  # The final image is the last level's.
  final = image.load_image(str(tmp_path / "p.png"))
  assert final.shape == (36, 48, 3)
  np.testing.assert_array_equal(final, image.load_image(str(tmp_path / "p_level2.png")))
  np.testing.assert_array_equal(final, image.to_uint8(iterates[-1].image))
  assert not list(tmp_path.glob("*.ckpt.npz"))
  # A grid skips it as done only under the same pyramid.
  prepared = run.prepare(*pair, str(tmp_path / "p.png"), pyramid="24:10,48:10",
                         report_every=10, overwrite=True, vgg_weights=weights_path)
  assert run.done_before(prepared) is not None
  other = run.prepare(*pair, str(tmp_path / "p.png"), pyramid="32:10,48:10",
                      report_every=10, overwrite=True, vgg_weights=weights_path)
  assert run.done_before(other) is None


def test_the_live_page_shows_each_level_as_a_run(tmp_path, pair, weights_path):
  from nst.live import serve  # pylint: disable=g-import-not-at-top
  views = []

  class Watching(serve.Live):
    def update(self, iterate):
      super().update(iterate)
      _, data = self.png()
      views.append(dict(level=iterate.level, title=self.settings()["title"],
                        steps=[h["iteration"] for h in self.history()["history"]],
                        finished=self.state()["finished"],
                        image=np.asarray(Image.open(io.BytesIO(data)))))

  # Under luminance control the page recombines each level's luminance with the
  # photograph's colours at that level's size.
  prepared = run.prepare(*pair, str(tmp_path / "l.png"), pyramid="24:5,48:5",
                         report_every=5, color_control="luminance", plot=False,
                         vgg_weights=weights_path)
  # What `nst --serve` and `nst-batch --serve` hand the run (serve.updater).
  live = Watching(png_interval=0)
  result = run.execute(prepared, callback=serve.updater(live, prepared))
  assert result.stopped == "num_steps"
  assert [(v["level"], v["steps"], v["finished"]) for v in views] == [
      (1, [0], False), (1, [0, 5], True), (2, [0], False), (2, [0, 5], True)]
  assert "level 1/2 (24x18 px)" in views[0]["title"]
  assert "level 2/2 (48x36 px)" in views[2]["title"]
  assert views[1]["image"].shape == (18, 24, 3)
  assert views[3]["image"].shape == (36, 48, 3)
  assert np.ptp(views[1]["image"].astype(int) @ [1, -1, 0]) > 0  # colour, not gray
  np.testing.assert_array_equal(views[3]["image"],
                                image.load_image(str(tmp_path / "l.png")))


def test_bad_pyramid_values_are_one_line_errors(tmp_path, pair):
  cases = {
      "--pyramid=24:5,24:5": "must differ",
      "--small_pyramid=256:5": "1x:iterations",
      "--pyramid=24-5": "is not size:iterations",
      "--pyramid=24:0,48:5": "at least 1",
      "--pyramid=8:5,48:5": "level 1 (8 px)",             # too small for relu5_1
      "--pyramid=24:5,60000:5": "end the pyramid at",     # does not fit in memory
  }
  inputs = [f"--content_image={pair[0]}", f"--style_image={pair[1]}", "--output=x.png"]
  for flag, message in cases.items():
    result = run_nst(*inputs, flag, cwd=tmp_path)
    assert result.returncode == 2, (flag, result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, flag
    assert flag.split("=")[0] + ":" in result.stderr and message in result.stderr, (
        result.stderr)
  for extra in ("--image_size=48", "--num_steps=5"):
    result = run_nst(*inputs, "--pyramid=24:5,48:5", extra, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"drop {extra.split('=')[0]}" in result.stderr, result.stderr
  assert os.listdir(tmp_path) == []
  # The Python API says the same.
  with pytest.raises(UserError, match="drop --image_size"):
    run.prepare(*pair, pyramid="24:5,48:5", image_size=48)


def test_interrupted_in_level_two_resumes_there_without_redoing_level_one(
    tmp_path, pair, weights_path):
  args = [f"--content_image={pair[0]}", f"--style_image={pair[1]}",
          "--pyramid=24:10,48:30", "--report_every=10", "--noplot"]
  # Wait for a signal once level 2 has reported step 10 (pause_entry at_step=2:10),
  # so the run is interrupted there on any machine.
  proc = subprocess.Popen(paused_nst("at_step=2:10", *args, "--output=cut.png"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=tmp_path, preexec_fn=with_ctrl_c)
  lines = []
  for line in proc.stdout:
    lines.append(line)
    if re.match(r"level 2/2 step +10/30", line):
      proc.send_signal(signal.SIGINT)
      break
  _, err = proc.communicate(timeout=900)
  assert proc.returncode == 130, err
  assert "of level 2/2" in err and "--resume" in err and "cut.ckpt.npz" in err
  assert any(line.startswith("level 1/2 step 10/10") for line in lines)
  partial = records.validate_record(json.loads((tmp_path / "cut.json").read_text()))
  assert partial["result"]["partial"] and partial["result"]["level"] == 2
  assert [(e["level"], e["iterations"], e["partial"]) for e in partial["levels"]] == [
      (1, 10, False), (2, 10, True)]
  assert (tmp_path / "cut.ckpt.npz").is_file()
  assert (tmp_path / "cut_level2.ckpt.npz").is_file()
  level1 = {name: (tmp_path / name).read_bytes()
            for name in ("cut_level1.png", "cut_level1.json")}

  # Without --resume the checkpoint is not thrown away.
  refused = run_nst(*args, "--output=cut.png", cwd=tmp_path)
  assert refused.returncode == 2 and "--resume" in refused.stderr

  resumed = run_nst(*args, "--output=cut.png", "--resume", cwd=tmp_path)
  assert resumed.returncode == 0, resumed.stderr
  assert "level 1/2" not in resumed.stdout  # level 1 was not run again...
  assert "level 2/2: 48x36 px, 30 iterations (continued" in resumed.stdout
  assert re.search(r"^level 2/2 step 30/30", resumed.stdout, re.M)
  for name, content in level1.items():  # ...and its files were kept as they were
    assert (tmp_path / name).read_bytes() == content, name
  record = records.validate_record(json.loads((tmp_path / "cut.json").read_text()))
  assert not record["result"]["partial"] and record["result"]["iterations"] == 40
  assert [(e["level"], e["iterations"]) for e in record["levels"]] == [(1, 10), (2, 30)]
  assert [h["iteration"] for h in record["levels"][1]["history"]] == [0, 10, 20, 30]
  assert not list(tmp_path.glob("*.ckpt.npz"))

  # The same run, uninterrupted, gives exactly the same image: the resumed level
  # continued its L-BFGS state.
  # (In this process, through the run path the CLI calls: no second TensorFlow.)
  whole = run.transfer(*pair, pyramid="24:10,48:30", report_every=10, plot=False)
  np.testing.assert_array_equal(image.load_image(str(tmp_path / "cut.png")),
                                whole.image)


def test_high_res_script_quick(tmp_path, images_dir, weights_path):
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "scripts", "high_res.py"), "--quick",
       f"--images_dir={images_dir}", "--image_size=48", "--num_steps=10",
       "--pyramid=24:10,48:5", f"--output_dir={tmp_path}",
       f"--vgg_weights={weights_path}"],
      capture_output=True, text=True, cwd=tmp_path, timeout=900, check=False)
  assert result.returncode == 0, result.stderr
  figure = json.loads((tmp_path / "high_res.json").read_text())
  comparison = figure["comparison"]
  assert figure["image_size"] == 48 and figure["pyramid"] == "24:10,48:5"
  assert figure["warm_up"]  # every shape traced first: no run's seconds hold a trace
  assert comparison["final_shape"] == [36, 48]
  cells = {cell["name"]: cell for cell in figure["cells"]}
  single = json.loads((tmp_path / "single_scale.json").read_text())
  ctf = json.loads((tmp_path / "coarse_to_fine.json").read_text())
  # Same final size, same start (the photograph) and seed.
  assert single["shape"] == ctf["shape"] == [36, 48]
  assert single["settings"]["init"] == ctf["settings"]["init"] == "content"
  assert single["seed"] == ctf["seed"]
  assert single["result"]["iterations"] == 10
  assert [level["size"] for level in ctf["levels"]] == [24, 48]
  assert comparison["single_scale"]["loss"] == single["result"]["losses"]["total"]
  assert comparison["coarse_to_fine"]["loss"] == ctf["result"]["losses"]["total"]
  assert comparison["single_scale"]["seconds"] == single["result"]["seconds"]
  assert comparison["coarse_to_fine"]["seconds"] == ctf["result"]["seconds"]
  assert comparison["coarse_to_fine"]["wall_seconds"] >= ctf["result"]["seconds"]
  # When it reached single scale's loss: the first of its last level's history
  # entries at or under it, after the earlier levels' whole time.
  last = ctf["levels"][-1]
  reached = [h for h in last["history"]
             if h["total"] <= single["result"]["losses"]["total"]]
  expected = (round(ctf["levels"][0]["seconds"] + reached[0]["elapsed"], 3)
              if reached else None)
  assert comparison["coarse_to_fine"]["seconds_to_single_loss"] == expected
  assert cells["single_scale"]["caption"].startswith("loss ")
  sheet = image.load_image(str(tmp_path / "high_res.png"))
  assert sheet.shape[1] > 4 * 48  # four columns: photograph, painting, two results
