"""L-BFGS image synthesis with the real VGG19: what the paper says should happen."""

import numpy as np
import pytest

from helpers import photograph, psnr
from nst import config
from nst.engine import optimize


def run(settings, content, style, weights_path, vgg_weights, report_every=50,
        init=None):
  problem = optimize.Problem(content, style, settings, weights_path,
                             vgg_weights=vgg_weights)
  x0 = optimize.initial_image(settings.init if init is None else init, content, style,
                              settings.seed)
  return list(optimize.stylize(problem, x0, report_every=report_every))


def test_content_reconstruction_from_relu1_1_recovers_the_photograph(
    weights_path, vgg_weights):
  # Paper, Fig. 1: reconstructions from lower layers are almost perfect.
  photo = photograph(64)
  settings = config.Settings(alpha=1.0, beta=0.0, content_layers=("relu1_1",),
                             num_steps=100)
  iterates = run(settings, photo, photo, weights_path, vgg_weights)
  assert psnr(iterates[0].image, photo) < 10  # uniform noise
  assert psnr(iterates[-1].image, photo) >= 20
  assert iterates[-1].iteration == 100


def test_style_only_run_lowers_style_loss_100x(weights_path, vgg_weights):
  photo = photograph(64)
  style = photograph(64)[::-1]  # any image has a style; flipped so it isn't the init
  settings = config.Settings(alpha=0.0, beta=1.0, num_steps=350)
  iterates = run(settings, photo, style, weights_path, vgg_weights, report_every=350)
  first, last = iterates[0].losses["style"], iterates[-1].losses["style"]
  assert first / last >= 100, (first, last)
  assert iterates[-1].losses["content"] == 0.0  # alpha = 0: no content layer computed
  assert set(iterates[-1].losses["style_layers"]) == set(settings.style_layers)


def test_chunked_run_equals_unchunked_and_keeps_lbfgs_history(
    weights_path, vgg_weights):
  photo = photograph(32)
  settings = config.Settings(num_steps=12, alpha=1e-3)
  whole = run(settings, photo, photo[::-1], weights_path, vgg_weights, report_every=12)
  chunks = run(settings, photo, photo[::-1], weights_path, vgg_weights, report_every=5)
  assert [it.iteration for it in whole] == [0, 12]
  assert [it.iteration for it in chunks] == [0, 5, 10, 12]
  assert chunks[-1].evaluations == whole[-1].evaluations
  np.testing.assert_array_equal(chunks[-1].image, whole[-1].image)
  totals = [it.losses["total"] for it in chunks]
  assert totals == sorted(totals, reverse=True)  # L-BFGS never increases the loss
  assert all(it.evaluations > it.iteration for it in chunks[1:])


def test_same_seed_same_result_other_seed_other_result(weights_path, vgg_weights):
  photo = photograph(32)
  settings = config.Settings(num_steps=5)
  problem = optimize.Problem(photo, photo[::-1], settings, weights_path,
                             vgg_weights=vgg_weights)
  def final(seed):
    x0 = optimize.initial_image("random", photo, photo[::-1], seed)
    return list(optimize.stylize(problem, x0))[-1].image
  a, b, c = final(7), final(7), final(8)
  np.testing.assert_array_equal(a, b)
  assert np.abs(a - c).mean() > 1


def test_init_choices():
  content = np.full((4, 4, 3), 10.0, np.float32)
  style = np.full((4, 4, 3), 20.0, np.float32)
  noise = optimize.initial_image("random", content, style, seed=1)
  assert noise.min() >= 0 and noise.max() <= 255 and noise.std() > 50
  np.testing.assert_array_equal(noise, optimize.initial_image("random", content, style, 1))
  np.testing.assert_array_equal(optimize.initial_image("content", content, style, 0),
                                content)
  np.testing.assert_array_equal(optimize.initial_image("style", content, style, 0), style)
  np.testing.assert_array_equal(optimize.initial_image("white", content, style, 0), 255)
  with pytest.raises(ValueError):
    optimize.initial_image("black", content, style, 0)


def test_starting_at_the_optimum_converges_at_once(weights_path, vgg_weights):
  photo = photograph(32)
  settings = config.Settings(alpha=1.0, beta=0.0, content_layers=("relu2_1",),
                             num_steps=10, init="content")
  iterates = run(settings, photo, photo, weights_path, vgg_weights)
  # tfp tests the gradient with a strict "< tolerance", so a zero gradient shows as
  # a line search that finds no decrease: the run stops at once, image unchanged.
  last = iterates[-1]
  assert last.losses["total"] == 0.0 and last.finished and last.iteration <= 1
  np.testing.assert_array_equal(last.image, photo)


def test_saved_state_resumes_exactly(weights_path, vgg_weights):
  # A run cut at iteration 4, saved as arrays and continued, ends exactly where an
  # uncut run ends: position, counters and L-BFGS history all come back.
  photo = photograph(32)
  settings = config.Settings(num_steps=8, alpha=1e-3)
  problem = optimize.Problem(photo, photo[::-1], settings, weights_path,
                             vgg_weights=vgg_weights)
  x0 = optimize.initial_image("random", photo, photo[::-1], 0)
  whole = list(optimize.stylize(problem, x0, report_every=8))[-1]
  first = list(optimize.stylize(problem, x0, report_every=4))[1]
  assert first.iteration == 4
  arrays = optimize.state_to_arrays(first.state)
  resumed = list(optimize.stylize(problem, state=optimize.state_from_arrays(arrays),
                                  report_every=8))
  assert [it.iteration for it in resumed] == [4, 8]
  np.testing.assert_array_equal(resumed[-1].image, whole.image)
  assert resumed[-1].evaluations == whole.evaluations


def test_non_finite_loss_stops_at_once(weights_path, vgg_weights):
  photo = photograph(32)
  settings = config.Settings(num_steps=10, alpha=1e38)  # content term overflows
  iterates = run(settings, photo, photo[::-1], weights_path, vgg_weights)
  assert not iterates[-1].finite and iterates[-1].finished
  assert iterates[-1].iteration <= 1


@pytest.mark.parametrize("eval_mode", ["plain", "xla"])
def test_reported_losses_come_from_lbfgs_own_evaluations(weights_path, vgg_weights,
                                                         monkeypatch, eval_mode):
  # Each chunk's losses are those of the evaluation L-BFGS made at its last point, not
  # of an extra forward pass: the loss is evaluated apart only at the start.
  photo = photograph(32)
  settings = config.Settings(num_steps=9, alpha=1e-3, tv_weight=10.0)
  problem = optimize.Problem(photo, photo[::-1], settings, weights_path,
                             vgg_weights=vgg_weights, eval_mode=eval_mode)
  forward = []
  monkeypatch.setattr(problem, "loss_terms", lambda x: forward.append(x) or
                      optimize.Problem.loss_terms(problem, x))
  x0 = optimize.initial_image("random", photo, photo, 0)
  iterates = list(optimize.stylize(problem, x0, report_every=3))
  assert [it.iteration for it in iterates] == [0, 3, 6, 9]
  assert len(forward) == 1  # the start
  for it in iterates[1:]:
    # ... and they are the losses at the reported image, to float32 rounding.
    again = optimize.Problem.loss_terms(problem, it.image.reshape(1, -1))
    assert it.losses["total"] == pytest.approx(float(again["total"][0]), rel=1e-5)
    assert it.losses["total"] == float(it.state.objective_value[0])
    assert it.losses["tv"] == pytest.approx(float(again["tv"][0]), rel=1e-5)
    for layer, value in again["style_layers"].items():
      assert it.losses["style_layers"][layer] == pytest.approx(float(value[0]),
                                                               rel=1e-5)
    assert it.losses["total"] == pytest.approx(
        settings.alpha * it.losses["content"] + settings.beta * it.losses["style"]
        + settings.tv_weight * it.losses["tv"], rel=1e-6)


def test_a_new_image_shape_is_a_new_trace_without_tensorflows_retracing_warning(
    weights_path, vgg_weights, caplog):
  # One trace per image shape is the design (a pyramid, a batch, the API in a loop):
  # seven shapes on one compiled loss used to log "triggered tf.function retracing".
  settings = config.Settings(alpha=1.0, beta=1.0, content_layers=("relu1_1",),
                             style_layers=("relu1_1",), num_steps=1)
  for side in range(16, 44, 4):
    run(settings, photograph(side), photograph(side)[::-1], weights_path, vgg_weights)
  assert "retracing" not in caplog.text
