"""`nst-fetch-weights`: put the official VGG19 weights where nst finds them."""

import sys

from absl import app
from absl import flags

from nst.engine import weights
from nst.errors import UserError

_VGG_DIR = flags.DEFINE_string(
    "vgg_dir", None,
    "Folder to put the weights in. Default: $NST_VGG_DIR, else the project's vgg/.")
_TIMEOUT = flags.DEFINE_float(
    "timeout", 10.0, "Seconds to wait for Keras's download before the registry.")


def main(argv):
  del argv
  try:
    weights.fetch(_VGG_DIR.value, timeout=_TIMEOUT.value)
  except UserError as e:
    print(f"nst-fetch-weights: error: {e}", file=sys.stderr)
    sys.exit(UserError.exit_code)


def run_main():
  app.run(main)


if __name__ == "__main__":
  run_main()
