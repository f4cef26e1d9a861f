"""The Python API (nst.transfer) and the presets, in-process."""

import json
import os

import numpy as np
import pytest

from helpers import photograph
import nst
from nst import config
from nst import image
from nst.runs import records

SMALL = dict(image_size=32, num_steps=4)


@pytest.fixture(scope="module")
def pair():
  return photograph(48), photograph(40)[::-1].copy()


@pytest.fixture(scope="module")
def default_run(pair, weights_path, tmp_path_factory):
  """A default run of the pair, from a fresh folder: (result, iterates, folder)."""
  folder = tmp_path_factory.mktemp("cwd")
  cwd = os.getcwd()
  os.chdir(folder)
  try:
    seen = []
    result = nst.transfer(*pair, callback=seen.append, **SMALL)
  finally:
    os.chdir(cwd)
  return result, seen, folder


def test_transfer_of_arrays_returns_image_and_record_and_writes_nothing(default_run):
  result, seen, folder = default_run
  assert result.image.shape == (32, 32, 3) and result.image.dtype == np.uint8
  record = records.validate_record(result.record)
  assert record["preset"] == nst.DEFAULT_PRESET == "default"
  assert record["result"]["iterations"] == 4 and not record["result"]["partial"]
  # Every resolved value is in the record: the preset's, and what was given.
  for name, value in config.PRESETS["default"].items():
    if name not in ("num_steps", "pyramid"):
      # The record is JSON: a preset's tuple is a list there.
      assert record["flags"][name] == (list(value) if isinstance(value, tuple)
                                       else value), name
  # The flags keep the five style layers and the rule (so that the argv rebuilds
  # every level's own); the settings say the two a 32 px run keeps (relu2_1 spans 16
  # positions there).
  assert "--style_min_positions=16" in record["argv"]
  assert record["settings"]["style_layers"] == ["relu1_1", "relu2_1"]
  # Its coarse-to-fine levels give way to the num_steps given: one scale.
  assert record["flags"]["pyramid"] == ""
  assert record["flags"]["num_steps"] == 4 and record["flags"]["image_size"] == 32
  assert record["images"] == {"content": "<array>", "style": "<array>"}
  assert record["layer_weights"]["style"]["relu1_1"] == pytest.approx(1e3 / 64 ** 2)
  json.dumps(record)  # plain JSON values only
  assert os.listdir(folder) == []
  # The callback saw the start, every chunk and the end, in order.
  assert [it.iteration for it in seen] == [0, 4]
  np.testing.assert_array_equal(image.to_uint8(seen[-1].image), result.image)


def test_transfer_of_paths_writes_image_record_and_plot(tmp_path, pair,
                                                        weights_path):
  content, style = str(tmp_path / "a.png"), str(tmp_path / "b.jpg")
  image.save_image(content, pair[0])
  image.save_image(style, pair[1])
  out = tmp_path / "out" / "r.png"
  result = nst.transfer(content, style, output=str(out), tv_weight=1e-3,
                        preset="paper", **SMALL)
  assert out.is_file() and (tmp_path / "out" / "r_loss.png").is_file()
  written = json.loads((tmp_path / "out" / "r.json").read_text())
  assert written == json.loads(json.dumps(result.record))
  assert written["preset"] == "paper" and written["flags"]["alpha"] == 1e-3
  assert written["flags"]["init"] == "random"
  assert written["images"] == {"content": content, "style": style}
  assert all(h["tv"] > 0 for h in written["history"])
  np.testing.assert_array_equal(image.load_image(str(out)), result.image)
  # The same output again is refused, as on the command line.
  with pytest.raises(nst.UserError, match="--overwrite"):
    nst.transfer(content, style, output=str(out), **SMALL)


@pytest.mark.parametrize("call,message", [
    (lambda c, s: nst.transfer("missing.png", s), "--content_image: no such file"),
    (lambda c, s: nst.transfer(c, s, alpah=1.0), "unknown option alpah"),
    (lambda c, s: nst.transfer(c, s, preset="fast"), "--preset must be one of"),
    (lambda c, s: nst.transfer(c[..., 0:2], s), "--content_image: an array of shape"),
    (lambda c, s: nst.transfer(c, [s, s], style_blend_weights=(1.0,)),
     "--style_blend_weights has 1 values but 2 style images"),
    (lambda c, s: nst.transfer(c, s, tv_weight=-1.0), "--tv_weight must be"),
    (lambda c, s: nst.transfer(c, s, style_scale=0.0), "--style_scale must be"),
    (lambda c, s: nst.transfer(c, s, style_layer_weights="some"),
     "--style_layer_weights: 'some'"),
    (lambda c, s: nst.transfer(c, s, resume=True), "--resume"),
    (lambda c, s: nst.transfer(c, s, image_size=8), "needs at least 16 px"),
])
def test_bad_input_raises_user_error_with_the_cli_message(tmp_path, monkeypatch, pair,
                                                          call, message):
  monkeypatch.chdir(tmp_path)
  with pytest.raises(nst.UserError, match=message):
    call(*pair)
  assert os.listdir(tmp_path) == []


def test_explicit_options_override_the_preset_and_presets_are_documented_groups():
  # original is the defaults, evaluated plainly (the same images on every machine).
  assert config.resolve_options("original") == dict(config.OPTIONS, eval_mode="plain")
  assert config.settings_from_options(config.OPTIONS) == config.Settings()
  paper = config.resolve_options("paper", {"alpha": 5e-4, "init": "content"})
  assert paper["alpha"] == 5e-4 and paper["init"] == "content"
  assert paper["loss_convention"] == "authors" and paper["normalize_vgg"]
  assert paper["content_layers"] == ("relu4_2",)  # the paper's; the default has two
  default = config.settings_from_options(config.resolve_options())
  assert default.style_weights() == {
      l: 1e3 / n ** 2 for l, n in zip(default.style_layers, (64, 128, 256, 512, 512))}
  assert default.content_weights() == {"relu3_2": 0.5, "relu4_2": 0.5}
  assert default.init == "content_recolored" and default.tv_weight == 0


def test_original_preset_is_exactly_the_original_values_given_by_hand(pair,
                                                                      weights_path):
  by_preset = nst.transfer(*pair, preset="original", **SMALL)
  by_hand = nst.transfer(*pair, preset="default", **{
      **{k: config.OPTIONS[k] for k in config.PRESETS["default"]}, **SMALL,
      "eval_mode": "plain"})
  np.testing.assert_array_equal(by_preset.image, by_hand.image)
  assert by_preset.record["settings"] == by_hand.record["settings"]


def test_interrupt_returns_the_partial_result_and_resume_finishes_it(
    tmp_path, pair, weights_path):
  def stop_at_ten(it):
    if it.iteration == 10:
      raise KeyboardInterrupt
  out = str(tmp_path / "i.png")
  options = dict(image_size=32, preset="original", alpha=1e-3)
  cut = nst.transfer(*pair, output=out, num_steps=100, callback=stop_at_ten,
                     **options)
  assert cut.stopped == "interrupted" and cut.record["result"]["partial"]
  assert cut.record["result"]["iterations"] == 10
  assert (tmp_path / "i.ckpt.npz").is_file()
  done = nst.transfer(*pair, output=out, num_steps=20, resume=True, **options)
  assert done.record["result"]["iterations"] == 20 and not done.partial
  assert not (tmp_path / "i.ckpt.npz").exists()
  whole = nst.transfer(*pair, num_steps=20, **options)
  np.testing.assert_array_equal(done.image, whole.image)


def test_blended_styles_target_the_weighted_sum_of_their_grams(pair, vgg_weights):
  from nst.engine import optimize  # pylint: disable=g-import-not-at-top
  content = photograph(32)
  a, b = image.resize(pair[1], (32, 32)), photograph(32)[:, ::-1].copy()
  settings = config.Settings(style_blend_weights=(0.25, 0.75))
  blended = optimize.Problem(content, [a, b], settings, vgg_weights=vgg_weights)
  alone = [optimize.Problem(content, s, config.Settings(), vgg_weights=vgg_weights)
           for s in (a, b)]
  for layer, target in blended.style_targets.items():
    expected = (0.25 * alone[0].style_targets[layer]
                + 0.75 * alone[1].style_targets[layer])
    np.testing.assert_allclose(target.numpy(), expected.numpy(), rtol=1e-5,
                               atol=1e-6 * float(np.abs(expected).max()))


def test_an_artwork_of_another_size_gives_the_same_gram_per_position(vgg_weights):
  """--style_scale: a texture twice as large (tiled 2x2) has 4x the positions; its
  Gram target is scaled back, so it matches the texture's own (up to the borders)."""
  from nst.engine import optimize  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  tile = np.kron(rng.uniform(0, 255, (16, 16, 3)), np.ones((4, 4, 1))).astype(np.float32)
  content = photograph(32)
  settings = config.Settings(style_layers=("relu1_1", "relu2_1"))
  same = optimize.Problem(content, tile, settings, vgg_weights=vgg_weights)
  double = optimize.Problem(content, np.tile(tile, (2, 2, 1)), settings,
                            vgg_weights=vgg_weights)
  for layer in ("relu1_1", "relu2_1"):
    expected = same.style_targets[layer].numpy()
    gap = np.linalg.norm(double.style_targets[layer].numpy() - expected)
    # Unscaled, the tiled artwork's Gram would be 4x: a relative gap of 3. Zero
    # padding makes the border positions differ (more of them in the smaller image).
    assert gap / np.linalg.norm(expected) < 0.05, layer


def test_default_preset_keeps_the_photograph_under_the_style(images_dir,
                                                             weights_path):
  """The issue behind the default: a user's own photograph must stay recognisable.
  Coarse structure kept (blurred-luminance correlation >= 0.5) and the style loss
  lowered at least 10x, at 64 px in 40 iterations; the paper's reading from noise
  (the `paper` preset) keeps far less of it after as many iterations."""
  content = image.to_rgb(__import__("skimage.data").data.astronaut())
  style = os.path.join(images_dir, "style", "starry_night.jpg")
  photo = image.resize(content, (64, 64))
  result = nst.transfer(content, style, image_size=64, num_steps=40)
  history = result.record["history"]
  assert image.structure_score(result.image, photo) >= 0.5
  assert history[0]["style"] / history[-1]["style"] >= 10
  from_noise = nst.transfer(content, style, image_size=64, num_steps=40,
                            preset="paper")
  assert image.structure_score(from_noise.image, photo) < 0.5


def test_color_control_luminance_keeps_the_photographs_colours(pair, default_run):
  from nst.control import color  # pylint: disable=g-import-not-at-top
  photo = image.resize(pair[0], (32, 32))
  plain = default_run[0]
  kept = nst.transfer(*pair, color_control="luminance", **SMALL)
  assert kept.record["settings"]["color_control"] == "luminance"
  iq = lambda x: color.rgb_to_yiq(x.astype(np.float64))[..., 1:]
  inside = np.all((kept.image > 0) & (kept.image < 255), axis=-1)
  # uint8 rounding moves I and Q by at most about 0.6 grey levels.
  assert np.abs(iq(kept.image) - iq(photo))[inside].max() < 1.0
  assert np.abs(iq(plain.image) - iq(photo)).max() > 5
  matched = nst.transfer(*pair, color_control="histogram",
                         histogram_match="cholesky", **SMALL)
  assert matched.record["settings"]["histogram_match"] == "cholesky"
  with pytest.raises(nst.UserError, match="--color_control must be one of"):
    nst.transfer(*pair, color_control="sepia")
