"""Spatial control with guidance masks (Gatys et al. 2017, section 4): the guided Gram
against numpy and its invariances, mask propagation to the layers (by hand, and the
receptive fields of the real network), bad masks, a real run's regions, and the
figure script."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from helpers import assert_refused
from helpers import nst
from helpers import script
from nst import image
from nst.engine import losses
from nst.engine import optimize
from nst.runs import plan as run
from nst.control import spatial
from nst.engine import vgg
from nst.config import Settings
from nst.errors import UserError



def np_guided_gram(f, masks):
  """G_r = M / sum(m_r^2) * sum_x m_r(x)^2 F_x F_x^T, [B, H, W, N] x [R, H, W]."""
  b, h, w, n = f.shape
  flat = f.reshape(b, h * w, n).astype(np.float64)
  m2 = masks.reshape(len(masks), h * w).astype(np.float64) ** 2
  grams = np.einsum("bxi,rx,bxj->brij", flat, m2, flat)
  return grams * (h * w / m2.sum(axis=1))[None, :, None, None]


def features(seed, shape=(2, 4, 6, 5)):
  return np.random.default_rng(seed).uniform(0, 3, size=shape).astype(np.float32)


def test_guided_gram_matches_numpy():
  f = features(0)
  masks = np.random.default_rng(1).uniform(0, 1, size=(3, 4, 6)).astype(np.float32)
  np.testing.assert_allclose(losses.guided_gram(f, masks), np_guided_gram(f, masks),
                             rtol=1e-5)


def test_all_ones_mask_gives_the_plain_gram_and_style_loss():
  f, a = features(2), features(3, (1, 4, 6, 5))
  ones = np.ones((1, 4, 6), np.float32)
  np.testing.assert_allclose(losses.guided_gram(f, ones)[:, 0], losses.gram(f),
                             rtol=1e-6)
  target = losses.gram(a)
  for convention in ("paper", "authors"):
    guided = losses.guided_style_layer_loss(f, ones, [1.0], target[:, None],
                                            convention)
    np.testing.assert_allclose(guided, losses.style_layer_loss(f, target, convention),
                               rtol=1e-6)


def test_guided_gram_does_not_depend_on_mask_scale_or_region_area():
  f = features(4)
  mask = np.zeros((4, 6), np.float32)
  mask[1:3, 1:5] = np.random.default_rng(5).uniform(0.2, 1, size=(2, 4))
  gram = losses.guided_gram(f, mask[None]).numpy()
  np.testing.assert_allclose(losses.guided_gram(f, 3 * mask[None]), gram, rtol=1e-5)
  # The features tiled twice side by side; the region once, then twice (its area
  # doubled in a layer of the same size): the same guided Gram.
  tiled = np.concatenate([f, f], axis=2)
  once = np.concatenate([mask, np.zeros_like(mask)], axis=1)
  twice = np.concatenate([mask, mask], axis=1)
  np.testing.assert_allclose(losses.guided_gram(tiled, once[None]),
                             losses.guided_gram(tiled, twice[None]), rtol=1e-5)
  # Features and mask tiled together: twice the positions M_l, so, like the plain
  # Gram, twice the guided Gram (the style loss divides by M_l^2).
  np.testing.assert_allclose(losses.guided_gram(tiled, twice[None]), 2 * gram,
                             rtol=1e-5)


@pytest.mark.parametrize("convention,scale", [("paper", 4.0), ("authors", 1.0)])
def test_guided_style_loss_matches_numpy(convention, scale):
  f, a = features(6), features(7, (1, 4, 6, 5))
  masks = np.random.default_rng(8).uniform(0, 1, size=(2, 4, 6)).astype(np.float32)
  targets = np_guided_gram(a, masks[::-1])          # [1, R, N, N]
  weights = np.array([0.3, 0.7])
  n, m = 5, 24
  per_region = ((np_guided_gram(f, masks) - targets) ** 2).sum(axis=(2, 3)) / (
      scale * n ** 2 * m ** 2)
  want = (per_region * weights).sum(axis=1)
  got = losses.guided_style_layer_loss(f, masks, weights.astype(np.float32),
                                       targets.astype(np.float32), convention)
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_an_empty_region_at_a_layer_is_skipped_without_nans():
  f = tf.constant(features(9))
  masks = np.stack([np.ones((4, 6)), np.zeros((4, 6))]).astype(np.float32)
  target = tf.zeros([1, 2, 5, 5])
  with tf.GradientTape() as tape:
    tape.watch(f)
    loss = losses.guided_style_layer_loss(f, masks, [1.0, 0.0], target)
  np.testing.assert_allclose(loss, losses.style_layer_loss(f, tf.zeros([1, 5, 5])),
                             rtol=1e-6)
  assert np.isfinite(tape.gradient(loss, f).numpy()).all()


def test_layer_masks_by_hand():
  # A 16x16 image whose left half (columns 0-7) is the region.
  mask = np.zeros((16, 16), np.float32)
  mask[:, :8] = 1
  mask[0, 0] = 0.5
  simple = spatial.layer_mask(mask, "relu2_1", "simple")
  assert simple.shape == (8, 8)
  assert simple[0, 0] == pytest.approx(0.875)  # (0.5 + 1 + 1 + 1) / 4
  np.testing.assert_array_equal(simple[1:, :4], 1)
  np.testing.assert_array_equal(simple[:, 4:], 0)
  assert spatial.layer_mask(mask, "relu5_1", "simple").shape == (1, 1)
  # inside: conv1_1 erodes one column (0-6 left), conv1_2 another (0-5); pool1 keeps
  # the columns j with 2j+1 <= 5 (0-2); conv2_1 erodes one (0-1). The image's border
  # is padding, so rows are not eroded, and 0.5 counts as inside.
  np.testing.assert_array_equal(spatial.layer_mask(mask, "relu1_1", "inside")[0],
                                [1] * 7 + [0] * 9)
  inside = spatial.layer_mask(mask, "relu2_1", "inside")
  np.testing.assert_array_equal(inside, np.tile([1, 1, 0, 0, 0, 0, 0, 0], (8, 1)))


@pytest.fixture(scope="module")
def relu3_1(vgg_weights):
  return vgg.build_feature_model(None, ["relu3_1"], weights=vgg_weights)


@pytest.mark.parametrize("propagation", ["inside", "simple"])
def test_inside_masks_see_nothing_outside_the_region(relu3_1, propagation):
  """The gradient of the masked relu3_1 response with respect to every pixel outside
  the region is exactly 0 under "inside"; under "simple" it is not (neurons at the
  region's border see across it), so the test can tell them apart."""
  mask = np.zeros((48, 64), np.float32)
  mask[6:40, 4:44] = 1
  layer_mask = spatial.layer_mask(mask, "relu3_1", propagation)
  assert layer_mask.shape == (12, 16) and layer_mask.sum() > 0
  pixels = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, 48, 64, 3)),
                       tf.float32)
  weights = tf.constant(np.random.default_rng(1).normal(size=(1, 12, 16, 256)),
                        tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(pixels)
    response = relu3_1(vgg.preprocess(pixels))["relu3_1"] * layer_mask[None, :, :, None]
    total = tf.reduce_sum(response * weights)
  gradient = np.abs(tape.gradient(total, pixels).numpy()[0]).sum(axis=-1)
  outside = gradient[mask == 0]
  assert gradient[mask == 1].max() > 0
  if propagation == "inside":
    assert (outside == 0).all()
  else:
    assert (outside > 0).sum() > 100


@pytest.fixture(scope="module")
def tubingen(images_dir):
  return (os.path.join(images_dir, "content", "tubingen.jpg"),
          os.path.join(images_dir, "masks", "tubingen_sky.png"))


def test_masks_are_read_resized_and_complemented(tubingen, tmp_path):
  _, sky = tubingen
  mask = spatial.load_mask(sky, (48, 64), "content_masks", (768, 1024))
  ground = spatial.load_mask("~" + sky, (48, 64), "content_masks", (768, 1024))
  assert mask.shape == (48, 64) and 0 <= mask.min() and mask.max() <= 1
  np.testing.assert_allclose(mask + ground, 1, atol=1e-5)
  assert mask[0].mean() > 0.9 and mask[-1].mean() < 0.05  # sky above, town below
  # A soft colour mask: its first channel, scaled to 0-1.
  soft = np.zeros((8, 8, 3), np.uint8)
  soft[..., 0], soft[..., 1] = 51, 255
  image.save_image(str(tmp_path / "soft.png"), soft)
  np.testing.assert_allclose(
      spatial.load_mask(str(tmp_path / "soft.png"), (8, 8), "content_masks"), 0.2,
      atol=1e-6)


def test_a_whole_image_region_is_the_unguided_problem(vgg_weights):
  """One region covering everything, styled by one artwork: the same losses as the
  problem without masks."""
  rng = np.random.default_rng(0)
  content, style = (rng.uniform(0, 255, (32, 32, 3)).astype(np.float32)
                    for _ in range(2))
  settings = Settings(num_steps=1)
  plain = optimize.Problem(content, style, settings, vgg_weights=vgg_weights)
  guided = optimize.Problem(content, [style], settings, vgg_weights=vgg_weights,
                            guides=([np.ones((32, 32), np.float32)], [None], "simple"))
  position = tf.constant(rng.uniform(0, 255, (1, 32 * 32 * 3)), tf.float32)
  want, got = plain.losses(position), guided.losses(position)
  for layer in settings.style_layers:
    np.testing.assert_allclose(got["style_layers"][layer], want["style_layers"][layer],
                               rtol=1e-4)


BAD = [
    (["--content_masks={missing}", "--style_image={red}"],
     r"--content_masks: no such file .*missing.png"),
    (["--content_masks={black},{sky}"], r"--content_masks: '.*black.png' is all black"),
    (["--content_masks=~{white},{sky}"],
     r"--content_masks: '~.*white.png' \(the complement of the file\) is all black"),
    (["--content_masks={sky},~{sky},{sky}"],
     r"--content_masks has 3 masks but --style_image has 2 images; give one style "
     "image per region"),
    (["--content_masks={sky},~{sky}", "--style_masks={sky}"],
     r"--style_masks has 1 masks but --style_image has 2 images"),
    (["--content_masks={wide},~{sky}"], r"--content_masks: '.*wide.png' is 64x8 px"),
    (["--style_masks={sky}", "--style_image={red}"],
     r"--style_masks needs --content_masks"),
    (["--content_masks={sky},~{sky}", "--mask_propagation=outside"],
     r"mask_propagation"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_masks_are_one_line_exit_2_and_touch_nothing(tmp_path, tubingen, args,
                                                         message):
  content, sky = tubingen
  made = {"red": np.full((40, 40, 3), [255, 0, 0]), "blue": np.full((40, 40, 3),
                                                                     [0, 0, 255]),
          "black": np.zeros((30, 40, 3)), "white": np.full((30, 40, 3), 255),
          "wide": np.full((8, 64, 3), 255)}
  paths = {name: str(tmp_path / f"{name}.png") for name in made}
  for name, array in made.items():
    image.save_image(paths[name], array)
  args = [a.format(sky=sky, missing=tmp_path / "missing.png", **paths) for a in args]
  existing = tmp_path / "out.png"
  existing.write_bytes(b"an earlier result")
  before = sorted(os.listdir(tmp_path))
  base = [f"--content_image={content}", f"--style_image={paths['red']},{paths['blue']}",
          "--image_size=48", f"--output={existing}"]
  assert_refused(nst(*base, *args, cwd=tmp_path), message, existing)
  assert sorted(os.listdir(tmp_path)) == before


def test_bad_masks_raise_user_error_in_the_api(tubingen, tmp_path):
  content, sky = tubingen
  red = np.full((40, 40, 3), [255.0, 0, 0])
  with pytest.raises(UserError, match="--content_masks: no such file"):
    run.prepare(content, [red, red], content_masks=[str(tmp_path / "none.png"), sky])
  with pytest.raises(UserError, match="--content_masks has 2 masks but --style_image "
                     "has 1 images"):
    run.prepare(content, red, content_masks=f"{sky},~{sky}")
  with pytest.raises(UserError, match="--content_masks: give mask files"):
    run.prepare(content, [red, red], content_masks=[np.ones((8, 8)), sky])


RED, BLUE = np.array([255.0, 0, 0]), np.array([0, 0, 255.0])


def test_each_region_takes_its_own_artworks_colour(tubingen, tmp_path, weights_path):
  """Sky styled by a flat red image, everything else by a flat blue one (against
  the photograph's own colours): after a short real run, each region's pixels are
  closer in colour to its own artwork than to the other, and than the other region
  is (the paper's Figure 2, with artworks reduced to their colour). `paper` preset:
  the authors' conventions, from noise. The record keeps
  the spatial-control options."""
  content, sky = tubingen
  red, blue = (np.tile(c, (48, 64, 1)) for c in (RED, BLUE))
  result = run.transfer(content, [red, blue], str(tmp_path / "regions.png"),
                        preset="paper", image_size=64, num_steps=20, plot=False,
                        content_masks=(sky, "~" + sky), vgg_weights=weights_path)
  inside = spatial.load_mask(sky, result.image.shape[:2], "content_masks") >= 0.5
  pixels = result.image.astype(np.float64)
  sky_colour, town_colour = pixels[inside].mean(axis=0), pixels[~inside].mean(axis=0)
  distance = lambda a, b: float(np.linalg.norm(a - b))
  assert distance(sky_colour, RED) < distance(sky_colour, BLUE)
  assert distance(town_colour, BLUE) < distance(town_colour, RED)
  # Measured: sky about (219, 39, 46), town about (44, 31, 209); without masks both
  # regions get the same purple blend.
  assert sky_colour[0] > town_colour[0] + 100 and town_colour[2] > sky_colour[2] + 100
  record = json.loads((tmp_path / "regions.json").read_text())
  for part in ("flags", "settings"):
    assert record[part]["content_masks"] == [sky, "~" + sky]
    assert record[part]["style_masks"] == []
    assert record[part]["mask_propagation"] == "simple"
  assert f"--content_masks={sky},~{sky}" in record["argv"]


def test_spatial_control_script_quick(tmp_path, images_dir, weights_path):
  result = script("spatial_control.py", "--quick", f"--images_dir={images_dir}",
                  f"--output_dir={tmp_path}", "--num_steps=3")
  assert result.returncode == 0, result.stderr[-2000:]
  record = json.loads((tmp_path / "spatial_control.json").read_text())
  names = {cell["name"]: cell for cell in record["cells"]}
  assert set(names) == {"guided_simple", "guided_inside", "unguided_starry_night",
                        "unguided_shipwreck"}
  for name, cell in names.items():
    assert (tmp_path / cell["image"]).is_file()
    assert cell["iterations"] == 3
    assert cell["losses"]["total"] < cell["init_losses"]["total"]
    assert bool(cell["settings"]["content_masks"]) == name.startswith("guided")
  assert names["guided_inside"]["settings"]["mask_propagation"] == "inside"
  sheet = image.load_image(str(tmp_path / "spatial_control.png"))
  assert sheet.shape[0] > 200 and sheet.shape[1] > 160 * 4
