"""Shared fixtures. Tests that need the real VGG19 weights fail (never skip) without
them: run `nst-fetch-weights` first, as .ci/run does."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # pylint: disable=g-import-not-at-top

from nst.engine import weights


@pytest.fixture(scope="session")
def weights_path():
  return weights.resolve()


@pytest.fixture(scope="session")
def vgg_weights(weights_path):
  from nst.engine import vgg  # pylint: disable=g-import-not-at-top
  return vgg.load_conv_weights(weights_path)


@pytest.fixture(scope="session")
def images_dir():
  """The paper's reference images: $NST_IMAGES_DIR, else ../shared/images."""
  folder = os.environ.get("NST_IMAGES_DIR") or os.path.join(
      os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "images")
  if not os.path.isfile(os.path.join(folder, "content", "tubingen.jpg")):
    pytest.fail(f"reference images not found in {folder}: set NST_IMAGES_DIR to a "
                "folder with content/tubingen.jpg and style/*.jpg (see README)")
  return folder
