"""The parts of a problem's settings (config.PARTS), from which the compiled graph's
cache key and the batching key are read: pure, no TensorFlow."""

import dataclasses

from nst import config


def test_every_setting_belongs_to_one_part():
  fields = dataclasses.fields(config.Settings)
  assert all(f.metadata["part"] in config.PARTS for f in fields)
  settings = config.Settings()
  by_part = [settings.part(name) for name in config.PARTS]
  assert sum(len(p) for p in by_part) == len(fields)
  assert settings.part("loss") == {"alpha": 1e-6, "beta": 1.0,
                                   "content_layer_weights": None,
                                   "style_layer_weights": None,
                                   "loss_convention": "paper", "tv_weight": 0.0}


def test_without_resets_only_those_parts():
  settings = config.Settings(seed=7, init="content", style_scale=2.0, num_steps=5,
                             alpha=1e-3, content_masks=("sky.png",))
  key = settings.without("inputs")
  assert (key.seed, key.init, key.style_scale, key.content_masks) == (0, "random",
                                                                      None, ())
  assert (key.num_steps, key.alpha) == (5, 1e-3)  # schedule and loss stay
  # Runs that differ only in their inputs share the key; another alpha does not.
  other = dataclasses.replace(settings, seed=1, init="random", style_scale=None)
  assert other.without("inputs") == key
  assert dataclasses.replace(settings, alpha=1.0).without("inputs") != key
  assert settings.without("inputs", "schedule").num_steps == 1000
