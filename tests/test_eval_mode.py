"""--eval_mode: forced modes, the auto decision and its cache, failing candidates.

No test depends on how fast this machine is: where auto must pick, the timings are
injected (evalmode.time_candidates replaced), so which mode wins is decided by the
test; the real timing function is exercised once, with no claim on its numbers,
besides a check of its interleaved order.
"""

import collections
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from helpers import photograph
import nst
from nst import config
from nst.engine import evalmode
from nst.engine import memory
from nst.engine import optimize

# original: no normalisation to compute. It pins eval_mode=plain, so the tests of the
# automatic choice ask for it (AUTO).
SMALL = dict(image_size=32, num_steps=3, preset="original")
AUTO = dict(SMALL, eval_mode="auto")


@pytest.fixture(scope="module")
def pair():
  return photograph(40), photograph(48)[::-1].copy()


@pytest.fixture
def weights_here(tmp_path, weights_path):
  """The real weights seen from a fresh folder, so that the cache beside them is this
  test's own."""
  link = tmp_path / os.path.basename(str(weights_path))
  os.symlink(os.path.abspath(str(weights_path)), link)
  return str(link)


@pytest.fixture
def fake_timings(monkeypatch):
  """Replace the timing of candidates: seconds per mode, set by the test; counts the
  candidates timed."""
  timed = collections.Counter()
  seconds = {"plain": 2.0, "xla": 1.0}

  def fake(problem, position, repeats=evalmode.TIMED):
    del position
    timed[problem.eval_mode] += 1
    return [seconds[problem.eval_mode]] * repeats

  def fake_candidates(problems, position, repeats=evalmode.TIMED):
    return {mode: fake(problem, position, repeats)
            for mode, problem in problems.items()}, {}
  monkeypatch.setattr(evalmode, "time_evaluations", fake)
  monkeypatch.setattr(evalmode, "time_candidates", fake_candidates)
  return seconds, timed


def test_forced_modes_are_honoured_and_xla_gives_plains_image(pair, weights_here,
                                                              fake_timings):
  _, timed = fake_timings
  runs = {mode: nst.transfer(*pair, eval_mode=mode, vgg_weights=weights_here,
                             **SMALL) for mode in ("plain", "xla")}
  for mode, result in runs.items():
    assert result.record["eval_mode"]["used"] == mode
    assert result.record["eval_mode"]["source"] == "given"
    assert result.record["flags"]["eval_mode"] == mode
    assert f"--eval_mode={mode}" in result.record["argv"]
    assert not result.record["eval_mode"]["notes"]
  assert sum(timed.values()) == 1  # only xla's compile check; nothing measured
  assert not os.path.exists(os.path.join(os.path.dirname(weights_here),
                                         evalmode.CACHE_NAME))
  plain, xla = runs["plain"].last, runs["xla"].last
  assert plain.iteration == xla.iteration == 3
  # The same arithmetic, fused differently: float32 rounding apart. 3 L-BFGS steps
  # from noise amplify that to at most a tenth of a grey level (0-255).
  assert np.abs(plain.image - xla.image).max() < 0.1
  assert xla.losses["total"] == pytest.approx(plain.losses["total"], rel=1e-4)


def test_xla_value_and_gradient_equal_plains_to_float32_tolerance(pair, vgg_weights):
  content, style = (np.asarray(p[:32, :32], np.float32) for p in pair)
  plain = optimize.Problem(content, style, config.Settings(), vgg_weights=vgg_weights)
  xla = plain.using("xla")
  assert xla.eval_mode == "xla" and xla.style_targets is plain.style_targets
  x = optimize.initial_image("random", content, style, 0).reshape(1, -1)
  v_plain, g_plain = (t.numpy() for t in plain.value_and_gradients(x))
  v_xla, g_xla = (t.numpy() for t in xla.value_and_gradients(x))
  np.testing.assert_allclose(v_xla, v_plain, rtol=1e-5)
  assert np.linalg.norm(g_xla - g_plain) <= 1e-4 * np.linalg.norm(g_plain)


def test_auto_measures_once_caches_beside_the_weights_then_reads_the_cache(
    pair, weights_here, fake_timings):
  seconds, timed = fake_timings
  logged = []
  first = nst.transfer(*pair, vgg_weights=weights_here, log=logged.append, **AUTO)
  info = first.record["eval_mode"]
  assert info["requested"] == "auto" and info["source"] == "measured"
  assert info["used"] == "xla"  # the injected timings: xla 1 s, plain 2 s
  assert info["seconds"] == {"plain": [2.0, 2.0], "xla": [1.0, 1.0]}
  assert dict(timed) == {"plain": 1, "xla": 1}
  # The record's flags say what was asked; its argv, the mode that ran.
  assert first.record["flags"]["eval_mode"] == "auto"
  assert "--eval_mode=xla" in first.record["argv"]
  assert any("eval_mode auto: xla" in line and "measured now" in line
             for line in logged)
  cache = os.path.join(os.path.dirname(weights_here), evalmode.CACHE_NAME)
  assert info["cache"] == cache
  with open(cache, encoding="utf-8") as f:
    saved = json.load(f)
  (key, decision), = saved["decisions"].items()
  assert decision["mode"] == "xla" and decision["key"] == info["key"]
  assert info["key"]["side"] == 64 and info["key"]["precision"] == "float32"
  for part in ("tensorflow", "cpu_model", "cpu_family", "vector", "device"):
    assert f"{part}=" in key

  seconds["xla"] = 3.0  # were it measured again, plain would now win
  second = nst.transfer(*pair, vgg_weights=weights_here, **AUTO)
  info = second.record["eval_mode"]
  assert (info["used"], info["source"]) == ("xla", "cache")
  assert info["seconds"] == {"plain": [2.0, 2.0], "xla": [1.0, 1.0]}
  assert dict(timed) == {"plain": 1, "xla": 1}  # not measured again
  np.testing.assert_array_equal(second.image, first.image)


def test_cache_is_invalidated_by_another_tensorflow_or_cpu(pair, vgg_weights,
                                                          tmp_path, fake_timings,
                                                          monkeypatch):
  seconds, timed = fake_timings
  seconds.update(plain=1.0, xla=2.0)  # plain wins: no XLA compile in this test
  content, style = (np.asarray(p[:32, :32], np.float32) for p in pair)
  problem = optimize.Problem(content, style, config.Settings(), vgg_weights=vgg_weights)
  x = optimize.initial_image("random", content, style, 0).reshape(1, -1)
  here = dict(evalmode.machine("CPU"))
  machine = dict(here)
  monkeypatch.setattr(evalmode, "machine", lambda device: dict(machine))

  def choose():
    return evalmode.choose("auto", problem, x, str(tmp_path), "CPU")[1]["source"]
  assert choose() == "measured" and choose() == "cache"
  assert timed["plain"] == 1
  machine["tensorflow"] = "99.0.0"
  assert choose() == "measured" and choose() == "cache"
  machine["cpu_model"] = "Another CPU"
  assert choose() == "measured"
  machine.update(here)
  assert choose() == "cache"  # the first machine's decision is still there
  assert timed["plain"] == 3
  with open(tmp_path / evalmode.CACHE_NAME, encoding="utf-8") as f:
    assert len(json.load(f)["decisions"]) == 3
  # Another size bucket is another decision; a neighbouring size is the same one.
  assert evalmode.key_parts("CPU", (40, 30), "float32")["side"] == 64
  assert evalmode.key_parts("CPU", (500, 333), "float32")["side"] == 512
  assert evalmode.key_parts("CPU", (256, 170), "float32")["side"] == 256


def test_an_unreadable_cache_is_ignored_with_a_note_and_rewritten(
    pair, vgg_weights, tmp_path, fake_timings):
  seconds, timed = fake_timings
  seconds.update(plain=1.0, xla=2.0)
  content, style = (np.asarray(p[:32, :32], np.float32) for p in pair)
  problem = optimize.Problem(content, style, config.Settings(), vgg_weights=vgg_weights)
  x = optimize.initial_image("random", content, style, 0).reshape(1, -1)
  (tmp_path / evalmode.CACHE_NAME).write_text("{truncated", encoding="utf-8")
  logged = []
  used, info = evalmode.choose("auto", problem, x, str(tmp_path), "CPU", logged.append)
  assert used.eval_mode == "plain" and info["source"] == "measured"
  assert len(info["notes"]) == 1 and "ignoring the cache" in info["notes"][0]
  assert f"note: {info['notes'][0]}" in logged
  assert evalmode.choose("auto", problem, x, str(tmp_path), "CPU")[1]["source"] == "cache"
  assert timed["plain"] == 1


def test_a_failing_xla_is_skipped_with_a_note_and_plain_used(pair, weights_here,
                                                             monkeypatch):
  # XLA fails where it would: when nst's evaluation, compiled with XLA (tf.function
  # with jit_compile), is called. Every other tf.function is TensorFlow's own.
  real_function = tf.function

  def function_whose_xla_fails(func=None, *args, jit_compile=None, **kwargs):
    if not (jit_compile and getattr(func, "__module__", None) == optimize.__name__):
      return real_function(func, *args, jit_compile=jit_compile, **kwargs)
    def call(*unused_args, **unused_kwargs):
      raise RuntimeError("XLA compilation failed: no kernel for this op\nmore detail")
    return call
  monkeypatch.setattr(tf, "function", function_whose_xla_fails)
  monkeypatch.setattr(optimize, "_COMPILED", collections.OrderedDict())  # keep it here
  calls = collections.Counter()
  real = evalmode.time_candidates

  def counted(problems, position, repeats=evalmode.TIMED):
    calls.update(list(problems))
    return real(problems, position, repeats)
  monkeypatch.setattr(evalmode, "time_candidates", counted)

  logged = []
  auto = nst.transfer(*pair, vgg_weights=weights_here, log=logged.append, **AUTO)
  info = auto.record["eval_mode"]
  assert (info["used"], info["source"]) == ("plain", "measured")
  assert set(info["seconds"]) == {"plain"} and len(info["seconds"]["plain"]) == 2
  notes = [line for line in logged if line.startswith("note: eval_mode auto: xla")]
  assert len(notes) == 1 and "\n" not in notes[0]
  assert "RuntimeError: XLA compilation failed" in notes[0]
  assert info["notes"] == [notes[0][len("note: "):]]
  assert auto.last.iteration == 3 and np.isfinite(auto.last.losses["total"])
  # The failure is part of the cached decision: it is not compiled again.
  again = nst.transfer(*pair, vgg_weights=weights_here, **AUTO)
  assert again.record["eval_mode"]["source"] == "cache"
  assert "xla skipped" in again.record["eval_mode"]["notes"][0]
  assert dict(calls) == {"plain": 1, "xla": 1}

  forced = nst.transfer(*pair, vgg_weights=weights_here, eval_mode="xla", **SMALL)
  info = forced.record["eval_mode"]
  assert (info["used"], info["source"]) == ("plain", "fallback")
  assert "eval_mode xla failed, using plain" in info["notes"][0]
  np.testing.assert_array_equal(forced.image, auto.image)


def test_a_bad_eval_mode_is_one_line_exit_2_and_a_user_error(pair):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  done = subprocess.run([sys.executable, "-m", "nst", "--eval_mode=fast"],
                        capture_output=True, text=True, env=env, timeout=300,
                        check=False)
  assert done.returncode == 2
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and "--eval_mode" in lines[0] and "fast" in lines[0]
  assert "auto" in lines[0] and "xla" in lines[0]
  with pytest.raises(nst.UserError, match=r"--eval_mode must be one of auto, plain, "
                                          r"xla, got 'fast'"):
    nst.transfer(*pair, eval_mode="fast", **SMALL)
  assert config.OPTIONS["eval_mode"] == "auto"


def test_xla_is_not_timed_or_used_where_its_memory_estimate_does_not_fit(
    pair, vgg_weights, tmp_path, fake_timings, monkeypatch):
  seconds, timed = fake_timings  # xla would win (1 s against 2 s) were it timed
  content, style = (np.asarray(p[:32, :32], np.float32) for p in pair)
  problem = optimize.Problem(content, style, config.Settings(), vgg_weights=vgg_weights)
  x = optimize.initial_image("random", content, style, 0).reshape(1, -1)
  args = ((32, 32), problem.settings.layers(), problem.settings.num_correction_pairs)
  plain, xla = memory.estimate_bytes(*args), memory.estimate_bytes(*args, "xla")
  # XLA_FACTOR of what grows with the image, the runtime once.
  assert xla - memory.RUNTIME_BYTES == pytest.approx(
      memory.XLA_FACTOR * (plain - memory.RUNTIME_BYTES))
  available = {"bytes": (plain + xla) / 2}
  monkeypatch.setattr(memory, "available_bytes", lambda: available["bytes"])
  logged = []
  used, info = evalmode.choose("auto", problem, x, str(tmp_path), "CPU", logged.append)
  assert used.eval_mode == "plain" and info["source"] == "measured"
  assert dict(timed) == {"plain": 1}
  assert len(info["notes"]) == 1 and "xla skipped" in info["notes"][0]
  assert any("GiB is available" in line for line in logged)
  assert not (tmp_path / evalmode.CACHE_NAME).exists()  # measured again with memory

  available["bytes"] = 2 * xla  # now both are timed, xla wins and is cached
  assert evalmode.choose("auto", problem, x, str(tmp_path), "CPU")[1]["used"] == "xla"
  available["bytes"] = (plain + xla) / 2  # a cached xla is not used without memory
  used, info = evalmode.choose("auto", problem, x, str(tmp_path), "CPU")
  assert (used.eval_mode, info["source"]) == ("plain", "fallback")
  assert "not the cached xla" in info["notes"][0]


def test_a_forced_xla_run_is_refused_by_xlas_memory_estimate(pair, weights_here,
                                                             monkeypatch):
  settings = config.Settings()
  args = ((40, 40), settings.layers(), settings.num_correction_pairs)
  between = (memory.estimate_bytes(*args) + memory.estimate_bytes(*args, "xla")) / 2
  monkeypatch.setattr(memory, "available_bytes", lambda: between)
  options = dict(image_size=40, num_steps=1, vgg_weights=weights_here)
  with pytest.raises(nst.UserError, match=r"--image_size: a 40x40 px run needs about"):
    nst.transfer(pair[0][:40, :40], pair[1], eval_mode="xla", **options)
  assert nst.transfer(pair[0][:40, :40], pair[1], eval_mode="plain",
                      **options).last.iteration == 1



class _Tensor(np.ndarray):
  """An array with the .numpy() of a tensor."""

  def numpy(self):
    return np.asarray(self)


class _Recorded:
  """A stand-in problem whose evaluations are appended to `calls` (or fail)."""

  def __init__(self, mode, calls, error=None):
    self.mode, self.calls, self.error = mode, calls, error

  def value_and_gradients(self, position):
    del position
    self.calls.append(self.mode)
    if self.error is not None:
      raise self.error
    return np.zeros(()).view(_Tensor), np.zeros(3).view(_Tensor)


def test_candidates_are_warmed_up_then_timed_interleaved():
  """A warm-up each, then the timed evaluations alternate with the order reversed
  every round, so a slower or faster stretch of the machine falls on both; a
  candidate failing its warm-up is reported, not timed; plain failing is raised."""
  calls = []
  seconds, failed = evalmode.time_candidates(
      {"plain": _Recorded("plain", calls), "xla": _Recorded("xla", calls)}, None,
      repeats=3)
  assert calls == ["plain", "xla", "plain", "xla", "xla", "plain", "plain", "xla"]
  assert {mode: len(ts) for mode, ts in seconds.items()} == {"plain": 3, "xla": 3}
  assert not failed

  calls.clear()
  broken = RuntimeError("no XLA here")
  seconds, failed = evalmode.time_candidates(
      {"plain": _Recorded("plain", calls), "xla": _Recorded("xla", calls, broken)},
      None, repeats=2)
  assert calls == ["plain", "xla", "plain", "plain"] and failed == {"xla": broken}
  assert list(seconds) == ["plain"]
  with pytest.raises(RuntimeError, match="no XLA here"):
    evalmode.time_candidates({"plain": _Recorded("plain", calls, broken)}, None)


@pytest.mark.parametrize("flags, expected", [
    (dict(amx_tile=True, avx512_bf16=True), "bfloat16"),
    (dict(avx512_bf16=True), "bfloat16"),
    (dict(avx512f=True, avx2=True), "float32"),
    (dict(avx2=True), "float32"),
])
def test_auto_precision_is_bfloat16_only_where_the_cpu_computes_it(monkeypatch, flags,
                                                                  expected):
  cpu = {**evalmode.cpu_info(), "avx512f": False, "avx2": False,
         "avx512_bf16": False, "amx_tile": False, **flags}
  monkeypatch.setattr(evalmode, "cpu_info", lambda: cpu)
  precision, why = evalmode.auto_precision("CPU")
  assert precision == expected
  assert ("without" in why) == (expected == "float32"), why


def test_precision_auto_is_resolved_before_the_run_and_said_in_the_record(
    pair, monkeypatch, tmp_path):
  from nst.runs import plan as run  # pylint: disable=g-import-not-at-top
  content, style = pair
  monkeypatch.setattr(evalmode, "auto_precision", lambda device: ("bfloat16", "test"))
  prepared = run.prepare(content, style, str(tmp_path / "out.png"), image_size=32,
                         num_steps=2, eval_mode="plain")
  assert prepared.settings.precision == "auto"  # the default preset's
  assert run.resolved(prepared).settings.precision == "bfloat16"
  result = run.execute(prepared)
  record = result.record
  assert record["settings"]["precision"] == "bfloat16"
  assert record["flags"]["precision"] == "auto"
  assert record["precision"] == {"requested": "auto", "used": "bfloat16", "why": "test"}
  assert "--precision=bfloat16" in record["argv"]  # reproduces it on any machine
  # A given precision, and the original preset, are never changed.
  assert run.resolved(run.prepare(content, style, preset="original", image_size=32)
                      ).settings.precision == "float32"
  assert run.resolved(run.prepare(content, style, image_size=32, precision="float32")
                      ).settings.precision == "float32"


def test_style_strength_sets_alpha_a_decade_a_quarter(pair):
  from nst.runs import plan as run  # pylint: disable=g-import-not-at-top
  content, style = pair
  alphas = [run.prepare(content, style, image_size=32, style_strength=s).settings.alpha
            for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
  np.testing.assert_allclose(alphas, [1e-1, 1e-2, 1e-3, 1e-4, 1e-5], rtol=1e-12)
  # The default preset's alpha from 256 px up is strength 0.6's (10^-3.4), with max
  # pooling.
  default = run.prepare(content, style, image_size=256).settings
  assert default.alpha == run.prepare(content, style, image_size=256,
                                      style_strength=0.6).settings.alpha
  np.testing.assert_allclose(default.alpha, 10 ** -3.4, rtol=1e-12)
  assert default.pooling == "max"


FIVE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def test_the_default_keeps_relu5_1_from_256_px_and_relu4_1_from_128_px(pair):
  """--style_min_positions=16 (the default preset's): a style layer is left out where
  its map spans fewer than 16 positions along the longest side, i.e. below
  16 * 2^(poolings before it) px; the strength stays 0.6 at every size."""
  from nst.runs import levels as levels_lib  # pylint: disable=g-import-not-at-top
  from nst.runs import plan as run  # pylint: disable=g-import-not-at-top
  content, style = pair  # 40 x 40

  def settings(**options):
    return run.prepare(content, style, **options).settings
  for size, layers in ((512, FIVE), (256, FIVE), (255, FIVE[:4]), (192, FIVE[:4]),
                       (128, FIVE[:4]), (127, FIVE[:3]), (96, FIVE[:3]),
                       (64, FIVE[:3]), (63, FIVE[:2]), (32, FIVE[:2])):
    got = settings(image_size=size)
    assert got.style_layers == layers, size
    # The layers kept keep the authors' weights, 1e3 / N_l^2; alpha is 0.6's.
    assert list(got.style_weights().values()) == pytest.approx(
        [1e3 / n ** 2 for n in (64, 128, 256, 512, 512)[:len(layers)]], rel=1e-12)
    np.testing.assert_allclose(got.alpha, 10 ** -3.4, rtol=1e-12)
  # --image_size=0: the photograph's own 40 px.
  assert settings(image_size=0).style_layers == FIVE[:2]
  # 0 keeps every layer; other presets keep theirs; given layers are filtered the
  # same way, with their given weights; none long enough: the shallowest stays.
  assert settings(image_size=128, style_min_positions=0).style_layers == FIVE
  assert settings(image_size=128, preset="paper").style_layers == FIVE
  filtered = settings(image_size=128, style_layers=("relu2_1", "relu5_1", "relu4_1"),
                      style_layer_weights=(1.0, 2.0, 3.0))
  assert filtered.style_weights() == {"relu2_1": 1.0, "relu4_1": 3.0}
  assert settings(image_size=64, style_layers=("relu5_1", "relu4_1")
                  ).style_layers == ("relu4_1",)
  # Each coarse-to-fine level keeps its own size's: a 192 px level without relu5_1
  # under a 256 px result with it; --style_min_positions=0 keeps it in every level.
  for given, first_layers in (({}, FIVE[:4]), ({"style_min_positions": 0}, FIVE)):
    plan = run.prepare(content, style, image_size=256, pyramid="0.75x:2,1x:2", **given)
    first = levels_lib._prepare_level(plan.request, plan.run, plan.levels, 1, None,  # pylint: disable=protected-access
                                      False)
    assert first.shape[:2] == (192, 192) and plan.shape[:2] == (256, 256)
    assert first.settings.style_layers == first_layers
    assert plan.settings.style_layers == FIVE
