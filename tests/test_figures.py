"""Figure replication: the scripts in quick mode, and Figure 1's properties."""

import json
import os
import sys

import numpy as np
import pytest

from helpers import psnr
from helpers import script
from nst.runs import figures
from nst import image

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts")
sys.path.insert(0, SCRIPTS)

import figure1  # pylint: disable=g-import-not-at-top,wrong-import-position
import figure_common  # pylint: disable=g-import-not-at-top,wrong-import-position


# Each cell costs mostly its tracing (about 12 s on a 2-core AVX2 machine), so the
# larger grids run a part of their cells here: one preset row of Figure 3, one ratio
# column of Figure 4. Figure 1's script runs whole in test_figure1_properties.
@pytest.mark.parametrize("name,cells,args", [
    ("figure3", 5, ["--presets=paper"]),
    ("figure4", 5, ["--ratios=1e-3", "--serve"])])  # the live page, too
def test_quick_mode_writes_sheet_and_json(tmp_path, images_dir, weights_path, name,
                                          cells, args):
  result = script(f"{name}.py", "--quick", f"--images_dir={images_dir}",
                  f"--output_dir={tmp_path}", "--num_steps=3", *args)
  assert result.returncode == 0, result.stderr[-2000:]
  assert ("--serve" in args) == (f"{name}: watch the run at http://127.0.0.1:"
                                 in result.stdout)
  sheet = image.load_image(str(tmp_path / f"{name}.png"))
  record = json.loads((tmp_path / f"{name}.json").read_text())
  assert len(record["cells"]) == cells
  # Cells are drawn at least 160 px wide, with a source column beside them.
  columns = 1 + max(c["col"] for c in record["cells"])
  assert sheet.shape[0] > 200 and sheet.shape[1] > 160 * columns
  assert record["image_size"] == figure_common.QUICK_IMAGE_SIZE
  for cell in record["cells"]:
    assert (tmp_path / cell["image"]).is_file()
    assert cell["iterations"] == 3 and cell["losses"]["total"] < cell["init_losses"]["total"]
    assert set(cell["losses"]["style_layers"]) | set(cell["losses"]["content_layers"])
  assert record["wall_seconds"] > 0


def test_alpha_beta_table_and_side_by_side_grid(tmp_path, images_dir, weights_path):
  result = script("alpha_beta.py", "--quick", f"--images_dir={images_dir}",
                  f"--output_dir={tmp_path}", "--num_steps=3", "--ratios=1e-3")
  assert result.returncode == 0, result.stderr[-2000:]
  record = json.loads((tmp_path / "alpha_beta.json").read_text())
  assert len(record["cells"]) == 10  # 5 style layer sets x 1 ratio x 2 variants
  variants = {(c["settings"]["loss_convention"], c["settings"]["normalize_vgg"])
              for c in record["cells"]}
  assert variants == {("paper", False), ("authors", True)}
  for cell in record["cells"]:
    assert (cell["normalization"] is not None) == cell["settings"]["normalize_vgg"]

  table = json.loads((tmp_path / "alpha_beta_table.json").read_text())["tables"][0]
  factors = table["factors"]
  for x in factors:
    for y in factors:
      assert factors[x][y] * factors[y][x] == pytest.approx(1, rel=1e-9)
  # Between loss conventions the conversion is exact and known by hand: content
  # relu4_2 mean = 2/(MN) x (1/2 sum), style x 4, so r_authors = r_paper * 2MN.
  height, width = table["size"]
  m, n = (height // 8) * (width // 8), 512
  assert factors["paper+original"]["authors+original"] == pytest.approx(2 * m * n,
                                                                        rel=1e-4)
  assert factors["paper+normalised"]["authors+normalised"] == pytest.approx(
      2 * m * n, rel=1e-4)
  assert "| relu4_2 |" in (tmp_path / "alpha_beta_table.md").read_text()


def test_presets_script_scores_each_preset(tmp_path, images_dir, weights_path):
  result = script("presets.py", "--quick", f"--images_dir={images_dir}",
                  f"--output_dir={tmp_path}", "--presets=default")
  assert result.returncode == 0, result.stderr[-2000:]
  cells = json.loads((tmp_path / "presets.json").read_text())["cells"]
  assert len(cells) == 3 and (tmp_path / "presets_48.png").is_file()
  assert "| default |" in (tmp_path / "presets_table.md").read_text()
  for cell in cells:
    # From the photograph the layout is there from the start (tests/test_api.py
    # checks the same against the paper preset's noise start).
    assert cell["style_reduction"] > 1
    assert cell["structure_score"] > 0.9, cell["name"]


def test_missing_images_dir_is_a_clear_error(tmp_path, monkeypatch):
  monkeypatch.delenv(figures.IMAGES_DIR_ENV, raising=False)
  result = script("figure1.py", "--quick", f"--output_dir={tmp_path}")
  assert result.returncode == 2
  assert "--images_dir" in result.stderr and "Traceback" not in result.stderr


def test_a_serve_option_without_serve_is_a_clear_error(tmp_path, images_dir):
  result = script("figure1.py", "--quick", f"--images_dir={images_dir}",
                  f"--output_dir={tmp_path / 'out'}", "--serve_port=8000")
  assert result.returncode == 2 and "Traceback" not in result.stderr
  assert "--serve_port only applies to the live page; add --serve" in result.stderr
  assert not (tmp_path / "out").exists()


def test_figure1_properties(tmp_path, images_dir, weights_path):
  """Paper, Fig. 1: content reconstructions get less exact with depth; style
  reconstructions match the painting's statistics, not the photograph's layout.
  Runs the script itself (sheet, records, and resuming: a second run keeps all)."""
  args = [f"--images_dir={images_dir}", f"--output_dir={tmp_path}",
          "--image_size=64", f"--num_steps={NUM_STEPS}"]
  result = script("figure1.py", *args)
  assert result.returncode == 0, result.stderr[-2000:]
  sheet = image.load_image(str(tmp_path / "figure1.png"))
  assert sheet.shape[0] > 200 and sheet.shape[1] > 500
  records = json.loads((tmp_path / "figure1.json").read_text())["cells"]
  assert len(records) == 10 and all(r["iterations"] == NUM_STEPS for r in records)
  content, style = figures.load_pair(images_dir, figure_common.CONTENT,
                                     figure_common.STYLES["starry_night"], 64)
  results = {r["name"]: image.load_image(str(tmp_path / r["image"])) for r in records}
  by_name = {r["name"]: r for r in records}

  errors = [np.sqrt(np.mean((results[f"content_{l}"] - content) ** 2))
            for l in figure1.CONTENT_LAYER_SETS["relu"]]
  print("figure1 content RMS errors", [round(float(e), 2) for e in errors])
  assert errors == sorted(errors), errors
  assert psnr(results["content_relu1_1"], content) >= 20

  for layer in figure1.STYLE_LAYERS:
    r = by_name[f"style_{layer}"]
    ratio = r["init_losses"]["style"] / r["losses"]["style"]
    print("figure1 style", layer, "ratio", round(ratio, 1), "psnr",
          round(float(psnr(results[f"style_{layer}"], content)), 2), "mean colour gap",
          np.abs(results[f"style_{layer}"].mean(axis=(0, 1))
                 - style.mean(axis=(0, 1))).round(1).tolist())
    assert ratio >= 100, (layer, ratio)
    # Layout lost: far from the photograph, and its mean colour near the painting's.
    result = results[f"style_{layer}"]
    assert psnr(result, content) < 15
    assert np.abs(result.mean(axis=(0, 1)) - style.mean(axis=(0, 1))).max() < 20

  again = script("figure1.py", *args)
  assert again.returncode == 0 and "10 jobs: 0 to run, 10 done before" in again.stdout


NUM_STEPS = 150
