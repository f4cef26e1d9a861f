"""Shared fixtures. Tests that need the real VGG19 weights fail (never skip) without
them: run `nst-fetch-weights` first, as .ci/run does."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # pylint: disable=g-import-not-at-top

from nst import weights


@pytest.fixture(scope="session")
def weights_path():
  return weights.resolve()


@pytest.fixture(scope="session")
def vgg_weights(weights_path):
  from nst import vgg  # pylint: disable=g-import-not-at-top
  return vgg.load_conv_weights(weights_path)
