"""What the command-line entry points share."""

import sys

from absl import flags


def list_in_help(*modules):
  """Make --help list the flags that `modules` (names, e.g. "nst.cli.main") define.

  absl's --help lists only the main module's flags, and the main module of a console
  script is setuptools' wrapper, so without this `nst --help` lists none.
  """
  values = flags.FLAGS
  for module in modules:
    for flag in values.get_flags_for_module(module):
      values.register_key_flag_for_module(sys.argv[0], flag)
