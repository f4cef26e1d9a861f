"""Colour control (Gatys et al., CVPR 2017): checkable properties, in numpy."""

import numpy as np
import pytest

from helpers import photograph
from nst.control import color


@pytest.fixture(scope="module")
def pair():
  return photograph(40).astype(np.float64), photograph(32)[::-1, :, ::-1].astype(
      np.float64) * 0.7 + 20


def test_yiq_round_trip_and_luminance_only_changes_rgb_equally(pair):
  content, other = pair
  np.testing.assert_allclose(color.yiq_to_rgb(color.rgb_to_yiq(content)), content,
                             atol=1e-9)
  np.testing.assert_allclose(color.YIQ_TO_RGB[:, 0], 1.0, atol=1e-12)
  out = color.recombine(color.as_gray_rgb(color.luminance(other[:32, :32])),
                        content[:32, :32])
  # Only luminance changed: result minus photograph is the same in R, G and B ...
  diff = out.astype(np.float64) - content[:32, :32]
  np.testing.assert_allclose(diff[..., 0], diff[..., 1], atol=1e-3)
  np.testing.assert_allclose(diff[..., 0], diff[..., 2], atol=1e-3)
  # ... I and Q are the photograph's (within 1/255 where nothing would clip) ...
  inside = np.all((out >= 0) & (out <= 255), axis=-1)
  iq_out = color.rgb_to_yiq(np.clip(out, 0, 255))[..., 1:]
  iq_photo = color.rgb_to_yiq(content[:32, :32])[..., 1:]
  assert inside.mean() > 0.5
  np.testing.assert_allclose(iq_out[inside], iq_photo[inside], atol=1 / 255)
  # ... and Y is the result's.
  np.testing.assert_allclose(color.luminance(out), color.luminance(other[:32, :32]),
                             atol=1e-3)


def test_luminance_matching_gives_the_photographs_mean_and_deviation(pair):
  content, style = pair
  matched = color.match_luminance(color.luminance(style), color.luminance(content))
  assert matched.mean() == pytest.approx(color.luminance(content).mean(), abs=1e-9)
  assert matched.std() == pytest.approx(color.luminance(content).std(), rel=1e-9)


@pytest.mark.parametrize("method", color.HISTOGRAM_MATCHES)
def test_histogram_matching_gives_the_photographs_mean_and_covariance(pair, method):
  content, style = pair
  matched = color.histogram_match(style, content, method).astype(np.float64)
  flat_m, flat_c = matched.reshape(-1, 3), content.reshape(-1, 3)
  np.testing.assert_allclose(flat_m.mean(0), flat_c.mean(0), atol=1e-5 * 255)
  cov_m = np.cov(flat_m, rowvar=False, bias=True)
  cov_c = np.cov(flat_c, rowvar=False, bias=True)
  assert np.linalg.norm(cov_m - cov_c) / np.linalg.norm(cov_c) < 1e-4
  # Matching an image to itself changes nothing.
  np.testing.assert_allclose(color.histogram_match(content, content, method), content,
                             atol=1e-3)


def test_the_two_histogram_matches_differ_but_agree_on_the_statistics(pair):
  content, style = pair
  a = color.histogram_match(style, content, "image_analogies")
  b = color.histogram_match(style, content, "cholesky")
  assert np.abs(a - b).max() > 1.0  # different maps ...
  np.testing.assert_allclose(a.mean(axis=(0, 1)), b.mean(axis=(0, 1)), atol=1e-3)


def test_color_control_script_quick(tmp_path, images_dir, weights_path):
  """scripts/color_control.py in quick mode: four cells, and the luminance-only
  result keeps the photograph's colours (YIQ I and Q) up to rounding and clipping."""
  import json  # pylint: disable=g-import-not-at-top
  from helpers import script  # pylint: disable=g-import-not-at-top
  from nst.runs import figures  # pylint: disable=g-import-not-at-top
  from nst import image  # pylint: disable=g-import-not-at-top
  result = script("color_control.py", "--quick", f"--images_dir={images_dir}",
                  f"--output_dir={tmp_path}", "--num_steps=5")
  assert result.returncode == 0, result.stderr[-2000:]
  record = json.loads((tmp_path / "color_control.json").read_text())
  cells = {cell["name"]: cell for cell in record["cells"]}
  assert set(cells) == {"standard", "luminance", "histogram", "histogram_cholesky"}
  assert [cells[n]["settings"]["color_control"] for n in sorted(cells)] == [
      "histogram", "histogram", "luminance", "none"]
  assert cells["histogram_cholesky"]["settings"]["histogram_match"] == "cholesky"
  for cell in cells.values():
    assert cell["iterations"] == 5
    assert cell["losses"]["total"] < cell["init_losses"]["total"]
  photo = figures.load_pair(images_dir, "content/tubingen.jpg", "style/starry_night.jpg",
                            48)[0]
  kept = image.load_image(str(tmp_path / cells["luminance"]["image"]))
  inside = np.all((kept > 2) & (kept < 253), axis=-1)  # not clipped
  iq_gap = np.abs(color.rgb_to_yiq(kept) - color.rgb_to_yiq(photo))[..., 1:][inside]
  assert inside.mean() > 0.5 and iq_gap.mean() < 1.0, iq_gap.mean()


def test_pixel_stats_of_a_mixture_against_weighted_pixels():
  """Two artworks of different sizes with blend weights 1 and 3: the mean and
  covariance of every pixel, each weighted by its image's weight over its count."""
  rng = np.random.default_rng(1)
  a, b = rng.uniform(0, 255, (4, 5, 3)), rng.uniform(30, 90, (3, 3, 3))
  mean, cov = color.pixel_stats([a, b], [1.0, 3.0])
  pixels = np.concatenate([a.reshape(-1, 3), b.reshape(-1, 3)])
  w = np.concatenate([np.full(20, 0.25 / 20), np.full(9, 0.75 / 9)])
  np.testing.assert_allclose(mean, (w[:, None] * pixels).sum(0), rtol=1e-12)
  np.testing.assert_allclose(cov, np.cov(pixels, rowvar=False, aweights=w, bias=True),
                             rtol=1e-9)


def test_recolored_start_has_the_artworks_colours_and_the_photographs_layout(pair):
  """--init=content_recolored: the photograph's pixels take the artwork's mean and
  covariance, and (symmetric square roots: A positive definite) no difference
  between two pixels is turned against itself, so light and dark stay in place."""
  content, style = pair
  style = style * 0.4 + 60  # an artwork the map needs no clipping for
  out = color.recolored(content, [style]).astype(np.float64)
  assert out.min() >= 0 and out.max() <= 255
  mean, cov = color.pixel_stats([out])
  want_mean, want_cov = color.pixel_stats([style])
  np.testing.assert_allclose(mean, want_mean, atol=1e-3)
  assert np.linalg.norm(cov - want_cov) / np.linalg.norm(want_cov) < 1e-4
  rng = np.random.default_rng(0)
  p, q = (rng.integers(0, 40 * 40, 2000) for _ in range(2))
  flat_c, flat_o = content.reshape(-1, 3), out.reshape(-1, 3)
  dots = ((flat_o[p] - flat_o[q]) * (flat_c[p] - flat_c[q])).sum(-1)
  assert np.all(dots[p != q] >= -1e-6)
  lum_c, lum_o = color.luminance(content).ravel(), color.luminance(out).ravel()
  assert np.corrcoef(lum_c, lum_o)[0, 1] > 0.9
  # Recolouring to the photograph's own colours changes nothing; the result is clipped.
  np.testing.assert_allclose(color.recolored(content, [content]), content, atol=1e-3)
  bright = color.recolored(content, [np.full((4, 4, 3), 250.0) + rng.normal(0, 40,
                                                                          (4, 4, 3))])
  assert bright.max() == 255.0 and bright.min() >= 0


def test_prepare_starts_from_the_photograph_in_the_artworks_colours():
  """The run's start is color.recolored of the photograph and artworks as the
  optimisation sees them (at the run's size, blend weights applied), the record says
  content_recolored, and swapping the artwork recolours the start again."""
  from nst.runs import plan as run  # pylint: disable=g-import-not-at-top
  from nst.runs import single  # pylint: disable=g-import-not-at-top
  content = photograph(48)
  warm, cold = (np.clip(photograph(40)[::-1] * f + o, 0, 255).astype(np.float32)
                for f, o in (([1.0, 0.6, 0.3], 40), ([0.3, 0.5, 1.0], 0)))
  prepared = run.prepare(content, [warm, cold], image_size=32, num_steps=1,
                         init="content_recolored", style_blend_weights=(3.0, 1.0))
  assert isinstance(prepared.init, np.ndarray) and prepared.init.shape == (32, 32, 3)
  np.testing.assert_allclose(
      prepared.init, color.recolored(prepared.content, prepared.styles, [0.75, 0.25]),
      atol=1e-4)
  want = color.pixel_stats(prepared.styles, [3, 1])[0]
  np.testing.assert_allclose(prepared.init.reshape(-1, 3).mean(0), want, atol=2.0)
  assert prepared.settings.init == "content_recolored"
  swapped = single.with_style(run.prepare(content, warm, image_size=32, num_steps=1,
                                          init="content_recolored").run, cold)
  np.testing.assert_allclose(swapped.init.reshape(-1, 3).mean(0),
                             color.pixel_stats(swapped.styles)[0], atol=2.0)
  # Under --color_control=histogram the artworks take the photograph's colours first,
  # so the recoloured start is the photograph itself (up to the mapped artwork's
  # clipping to 0-255); the start from the artworks' own colours is far from it.
  kept = run.prepare(content, warm, image_size=32, num_steps=1,
                     init="content_recolored", color_control="histogram")
  assert np.abs(kept.init - kept.content).max() < 3.0
  assert np.abs(prepared.init - prepared.content).mean() > 20.0
