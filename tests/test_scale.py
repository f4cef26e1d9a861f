"""Scale control by combining two artworks (--fine_style_image; nst/control/scale_combination.py): the
new style image takes the fine artwork's shallow-layer statistics and keeps the
coarse artwork's layout, the transfer uses it as an ordinary run would, zero
iterations keep the coarse artwork, an interrupted run resumes to the same image,
bad values are one-line errors, and scripts/scale_control.py runs."""

import json
import os

from helpers import assert_refused, nst, script  # pylint: disable=g-bad-import-order
import numpy as np
import pytest

from nst import image
import nst as nst_api
from nst.control import scale_combination as scale
from nst.runs import batch
from nst.runs import jobs as jobs_lib
from nst.runs import plan as run
from nst.runs import records

COARSE = "style/starry_night.jpg"  # large swirls
FINE = "style/scream.jpg"          # another palette and stroke texture
ALL_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
SIZE = 64
STEPS = 100


@pytest.fixture(scope="module")
def paths(images_dir):
  return {name: os.path.join(images_dir, sub) for name, sub in
          (("content", "content/tubingen.jpg"), ("coarse", COARSE), ("fine", FINE))}


def test_new_style_takes_the_fine_texture_and_keeps_the_coarse_layout(paths,
                                                                      weights_path):
  """The synthesis (default layers relu1_1, relu2_1) matches the fine artwork's
  Gram matrices there by a large factor, and the coarse artwork's layout stays.
  Against the same synthesis at all five layers: the deep layers' statistics are
  left far from the fine artwork's (so the restriction to shallow layers is what
  keeps them), and less of the layout survives.

  Not asserted, because it is not what happens: that the deep layers' Gram matrices
  stay closer to the coarse artwork's than to the fine one's. At 64 px, Starry Night
  made with The Scream's relu1_1/relu2_1 statistics has relu3_1 and relu4_1 Gram
  matrices 2-5x closer to The Scream's (colour and contrast feed every deeper layer);
  only relu5_1 stays closer to Starry Night's (see the README, Scale control)."""
  shallow = nst_api.combine_scales(paths["coarse"], paths["fine"], image_size=SIZE,
                                   num_steps=STEPS, vgg_weights=weights_path)
  record = shallow.record
  assert record["settings"]["style_layers"] == list(scale.DEFAULT_LAYERS)
  assert record["settings"]["alpha"] == 0 and record["settings"]["init"] == "content"
  assert record["images"] == {"content": paths["coarse"], "style": paths["fine"]}
  start, end = record["history"][0]["style_layers"], record["result"]["losses"][
      "style_layers"]
  reductions = {layer: start[layer] / end[layer] for layer in start}
  print("fine-layer loss reductions", reductions)
  assert min(reductions.values()) > 100, reductions

  new_style = shallow.image.astype(np.float32)
  shape = new_style.shape[:2]
  coarse = image.resize(image.load_image(paths["coarse"]), shape)
  fine = image.resize(image.load_image(paths["fine"]), shape)
  kept, taken = image.structure_score(new_style, coarse), image.structure_score(
      new_style, fine)
  print("structure score with the coarse artwork", kept, "with the fine one", taken)
  assert kept > 0.8 and taken < 0.3

  full = nst_api.combine_scales(paths["coarse"], paths["fine"], image_size=SIZE,
                                num_steps=STEPS, layers=ALL_LAYERS,
                                vgg_weights=weights_path)
  # The shallow synthesis's image measured at all five layers against the fine
  # artwork: the first evaluation of a run that starts from it.
  probe = nst_api.combine_scales(shallow.image, paths["fine"], image_size=SIZE,
                                 num_steps=1, layers=ALL_LAYERS,
                                 vgg_weights=weights_path)
  shallow_deep = probe.record["history"][0]["style_layers"]
  full_deep = full.record["result"]["losses"]["style_layers"]
  print("deep losses against the fine artwork: shallow", shallow_deep, "full",
        full_deep)
  for layer in ("relu4_1", "relu5_1"):
    assert shallow_deep[layer] > 3 * full_deep[layer], layer
  assert image.structure_score(full.image, coarse) < kept - 0.1


@pytest.fixture(scope="module")
def combined(paths, weights_path, tmp_path_factory):
  """A transfer with a combined style (10 synthesis iterations, 5 of the transfer),
  uninterrupted: its result and output folder."""
  folder = tmp_path_factory.mktemp("combined")
  result = run.transfer(paths["content"], paths["coarse"], str(folder / "c.png"),
                        **small(paths, weights_path))
  return result, folder


def small(paths, weights_path, **options):
  return dict(dict(fine_style_image=paths["fine"], fine_style_steps=10, image_size=48,
                   num_steps=5, report_every=5, vgg_weights=weights_path), **options)


def test_transfer_is_an_ordinary_run_with_the_written_style_image(combined, paths,
                                                                  weights_path):
  result, folder = combined
  style_path = folder / "c_style.png"
  record = records.validate_record(json.loads((folder / "c.json").read_text()))
  entry = record["fine_style"]
  assert entry["image"] == str(style_path) and entry["iterations"] == 10
  assert entry["layers"] == list(scale.DEFAULT_LAYERS) and not entry["reused"]
  assert record["images"]["fine_style"] == paths["fine"]
  assert record["flags"]["fine_style_image"] == paths["fine"]
  assert f"--fine_style_image={paths['fine']}" in record["argv"]
  assert "--fine_style_steps=10" in record["argv"]
  synthesis = json.loads((folder / "c_style.json").read_text())
  assert synthesis["images"] == {"content": paths["coarse"], "style": paths["fine"]}
  assert synthesis["settings"]["style_layers"] == list(scale.DEFAULT_LAYERS)
  # The synthesis runs at the longest side the transfer uses its artwork at, in the
  # coarse artwork's aspect (Starry Night's 48x38 here, Tübingen's 48x36).
  assert max(synthesis["shape"]) == max(record["shape"]) == 48
  # The same transfer, run as an ordinary one with the written image as its artwork.
  ordinary = run.transfer(paths["content"], str(style_path), image_size=48,
                          num_steps=5, report_every=5, vgg_weights=weights_path)
  np.testing.assert_array_equal(result.image, ordinary.image)
  # A plain run without flags of scale control has none in its record or argv.
  assert ordinary.record["flags"]["fine_style_image"] is None
  assert not any(a.startswith("--fine_style") for a in ordinary.record["argv"])


def test_zero_steps_keep_the_coarse_artwork(tmp_path, paths, weights_path):
  result = run.transfer(paths["content"], paths["coarse"], str(tmp_path / "z.png"),
                        **small(paths, weights_path, fine_style_steps=0, num_steps=1))
  written = image.load_image(str(tmp_path / "z_style.png"))
  coarse = image.load_image(paths["coarse"])
  expected = image.to_uint8(image.resize(coarse, image.scaled_shape(coarse.shape, 48)))
  np.testing.assert_array_equal(written, expected)
  entry = result.record["fine_style"]
  assert entry["iterations"] == 0 and entry["record"] is None  # nothing was run
  assert not (tmp_path / "z_style.json").exists()


def test_histogram_colour_control_maps_both_artworks_before_the_synthesis(
    tmp_path, paths, weights_path):
  """--color_control=histogram: as the authors' notebook (pretrans_color), both
  artworks take the photograph's colours before the synthesis; with 0 steps the
  written style image is the coarse artwork so mapped: the photograph's mean colour,
  not the painting's."""
  result = run.transfer(paths["content"], paths["coarse"], str(tmp_path / "h.png"),
                        **small(paths, weights_path, fine_style_steps=0, num_steps=1,
                                color_control="histogram"))
  assert result.record["fine_style"]["color_matched"]
  written = image.load_image(str(tmp_path / "h_style.png")).reshape(-1, 3).mean(0)
  photograph = image.resize(image.load_image(paths["content"]),
                            result.record["shape"]).reshape(-1, 3).mean(0)
  painting = image.load_image(paths["coarse"]).reshape(-1, 3).mean(0)
  print("mean colours: written", written, "photograph", photograph, "painting",
        painting)
  assert np.abs(painting - photograph).max() > 10  # so that the test can fail
  np.testing.assert_allclose(written, photograph, atol=2)
  plain = run.transfer(paths["content"], paths["coarse"], None,
                       **small(paths, weights_path, fine_style_steps=0, num_steps=1))
  assert not plain.record["fine_style"]["color_matched"]


def test_interrupted_runs_resume_to_the_uninterrupted_image(tmp_path, combined, paths,
                                                           weights_path):
  """Ctrl-C during the synthesis, then during the transfer: --resume continues each
  from its checkpoint, and the result is the uninterrupted run's, bitwise."""
  output = str(tmp_path / "c.png")

  def interrupt_synthesis(line):
    if "combined style step 5/" in line:
      raise KeyboardInterrupt

  with pytest.raises(run.RunError, match="while synthesising") as stopped:
    run.transfer(paths["content"], paths["coarse"], output, log=interrupt_synthesis,
                 **small(paths, weights_path))
  assert stopped.value.exit_code == run.EXIT_SIGINT
  assert (tmp_path / "c_style.ckpt.npz").is_file() and not (tmp_path / "c.png").exists()

  def interrupt_transfer(it):
    if it.iteration == 5:
      raise KeyboardInterrupt

  # The synthesis continues (its checkpoint), then the transfer is interrupted.
  partial = run.transfer(paths["content"], paths["coarse"], output, resume=True,
                         callback=interrupt_transfer,
                         **small(paths, weights_path, num_steps=10))
  assert partial.partial and (tmp_path / "c.ckpt.npz").is_file()
  assert not (tmp_path / "c_style.ckpt.npz").exists()
  np.testing.assert_array_equal(image.load_image(str(tmp_path / "c_style.png")),
                                image.load_image(str(combined[1] / "c_style.png")))
  # The transfer continues (its checkpoint), the synthesis is kept.
  done = run.transfer(paths["content"], paths["coarse"], output, resume=True,
                      **small(paths, weights_path, num_steps=10))
  assert done.record["fine_style"]["reused"] and not done.partial
  assert done.record["result"]["iterations"] == 10
  again = run.transfer(paths["content"], paths["coarse"], None,
                       **small(paths, weights_path, num_steps=10))
  np.testing.assert_array_equal(done.image, again.image)


def test_coarse_to_fine_takes_the_combined_style_at_every_level(tmp_path, combined,
                                                                paths, weights_path):
  """With --pyramid the new style image is synthesised once, at the last level's
  artwork size (the same image as the single-scale run's at that size), the levels
  are bitwise a coarse-to-fine run with that image as --style_image, and a run
  interrupted in a level resumes to the same image."""
  options = dict(small(paths, weights_path), pyramid="32:3,48:3")
  del options["image_size"], options["num_steps"]
  result = run.transfer(paths["content"], paths["coarse"], str(tmp_path / "p.png"),
                        **options)
  np.testing.assert_array_equal(image.load_image(str(tmp_path / "p_style.png")),
                                image.load_image(str(combined[1] / "c_style.png")))
  record = records.validate_record(json.loads((tmp_path / "p.json").read_text()))
  assert [level["size"] for level in record["levels"]] == [32, 48]
  assert record["fine_style"]["iterations"] == 10
  assert record["images"] == {"content": paths["content"], "style": paths["coarse"],
                              "fine_style": paths["fine"]}
  assert "--pyramid=32:3,48:3" in record["argv"]
  assert f"--fine_style_image={paths['fine']}" in record["argv"]
  ordinary = run.transfer(paths["content"], str(tmp_path / "p_style.png"),
                          pyramid="32:3,48:3", report_every=5, vgg_weights=weights_path)
  np.testing.assert_array_equal(result.image, ordinary.image)
  assert [level["losses"] for level in result.record["levels"]] == [
      level["losses"] for level in ordinary.record["levels"]]

  # Interrupted in level 2, --resume keeps the synthesis and the first level.
  def interrupt(it):
    if it.level == 2 and it.iteration == 2:
      raise KeyboardInterrupt

  output = str(tmp_path / "q.png")
  partial = run.transfer(paths["content"], paths["coarse"], output, callback=interrupt,
                         **dict(options, report_every=1))
  assert partial.partial and (tmp_path / "q.ckpt.npz").is_file()
  done = run.transfer(paths["content"], paths["coarse"], output, resume=True,
                      **options)
  assert done.record["fine_style"]["reused"] and not done.partial
  np.testing.assert_array_equal(done.image, result.image)


def test_a_batch_job_interrupted_in_its_synthesis_continues_it(tmp_path, combined,
                                                                paths, weights_path):
  """Ctrl-C while a batch job synthesises its combined style image stops the batch
  (not just the job); the next run of the batch continues the synthesis from its
  checkpoint, and the job's image is the uninterrupted run's."""
  job = jobs_lib.Job(name="c", content=paths["content"], style=[paths["coarse"]],
                  options=small(paths, weights_path), source="test")
  lines = []

  def interrupt_synthesis(line):
    lines.append(line)
    if "combined style step 5/" in line:
      raise KeyboardInterrupt

  summary = batch.run_batch([job], str(tmp_path), log=interrupt_synthesis, sheet=False)
  assert summary["interrupted"] and summary["jobs"][0]["state"] == "interrupted"
  assert (tmp_path / "c_style.ckpt.npz").is_file() and not (tmp_path / "c.png").exists()
  lines.clear()
  summary = batch.run_batch([job], str(tmp_path), log=lines.append, sheet=False)
  assert summary["jobs"][0]["state"] == "done", summary["jobs"][0]
  assert any("continuing from its checkpoint" in line for line in lines), lines
  assert not any("combined style step 0/" in line for line in lines), lines
  np.testing.assert_array_equal(image.load_image(str(tmp_path / "c.png")),
                                combined[0].image)


@pytest.mark.parametrize("args,message", [
    (["--fine_style_image=missing.jpg"], r"--fine_style_image: no such file"),
    (["--fine_style_image={fine}", "--fine_style_layers=relu1_1,relu9_9"],
     r"unknown layer 'relu9_9' in --fine_style_layers"),
    (["--fine_style_image={fine}", "--fine_style_layers=relu1_1,relu1_1"],
     r"--fine_style_layers lists a layer twice"),
    (["--fine_style_image={fine}", "--fine_style_steps=-1"],
     r"--fine_style_steps must be a whole number >= 0"),
    (["--fine_style_steps=10"], r"--fine_style_steps only applies with "
                                r"--fine_style_image"),
    (["--fine_style_image={fine}", "--style_image={fine},{fine}"],
     r"give exactly one --style_image"),
    (["--fine_style_image={fine}", "--resume"], r"--resume: no checkpoint"),
])
def test_bad_values_are_one_line_errors(tmp_path, paths, args, message):
  existing = tmp_path / "earlier.png"
  existing.write_bytes(b"an earlier result")
  args = [a.format(fine=paths["fine"]) for a in args]
  if not any(a.startswith("--pyramid") for a in args):
    args.append("--image_size=32")
  result = nst(f"--content_image={paths['content']}",
               f"--style_image={paths['coarse']}", f"--output={tmp_path / 'out.png'}",
               *args, cwd=tmp_path)
  assert_refused(result, message, existing)
  assert sorted(os.listdir(tmp_path)) == ["earlier.png"]


def test_an_existing_style_image_is_not_overwritten(tmp_path, paths):
  existing = tmp_path / "out_style.png"
  existing.write_bytes(b"an earlier result")
  result = nst(f"--content_image={paths['content']}",
               f"--style_image={paths['coarse']}",
               f"--fine_style_image={paths['fine']}",
               f"--output={tmp_path / 'out.png'}", "--image_size=32", cwd=tmp_path)
  assert_refused(result, r"out_style.png' exists; pass --overwrite", existing)


def test_scale_control_script_quick(tmp_path, images_dir, weights_path):
  """scripts/scale_control.py in quick mode: three cells and the synthesised style
  shown above the combined one; a second run keeps every cell."""
  args = ["--quick", f"--images_dir={images_dir}", f"--output_dir={tmp_path}",
          "--num_steps=3", "--fine_style_steps=5"]
  result = script("scale_control.py", *args)
  assert result.returncode == 0, result.stderr[-2000:]
  record = json.loads((tmp_path / "scale_control.json").read_text())
  cells = {cell["name"]: cell for cell in record["cells"]}
  combined_cell = "combined_starry_night__scream"
  assert set(cells) == {"starry_night", "scream", combined_cell}
  for cell in cells.values():
    assert cell["iterations"] == 3
    assert cell["losses"]["total"] < cell["init_losses"]["total"]
  synthesis = cells[combined_cell]["fine_style"]
  assert synthesis["iterations"] == 5 and synthesis["layers"] == ["relu1_1", "relu2_1"]
  assert record["combined_style_image"] == combined_cell + "_style.png"
  assert (tmp_path / record["combined_style_image"]).is_file()
  sheet = image.load_image(str(tmp_path / "scale_control.png"))
  assert sheet.shape[0] > 200 and sheet.shape[1] > 160 * 4
  again = script("scale_control.py", *args)
  assert again.returncode == 0 and "3 jobs: 0 to run, 3 done before" in again.stdout
