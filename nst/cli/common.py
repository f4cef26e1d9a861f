"""What the command-line entry points share."""

import sys

from absl import app
from absl import flags

from nst import interrupts
from nst.errors import UserError


def list_in_help(*modules):
  """Make --help list the flags that `modules` (names, e.g. "nst.cli.main") define.

  absl's --help lists only the main module's flags, and the main module of a console
  script is setuptools' wrapper, so without this `nst --help` lists none.
  """
  values = flags.FLAGS
  for module in modules:
    for flag in values.get_flags_for_module(module):
      values.register_key_flag_for_module(sys.argv[0], flag)


def fail(program, message):
  """Bad input: one line naming it and the fix, exit code 2, no traceback."""
  print(f"{program}: error: {message}", file=sys.stderr)
  sys.exit(UserError.exit_code)


def run(program, main, module, *flag_modules):
  """Run `main()` as `program` under absl, --help listing the flags of `module` and
  `flag_modules`; a bad flag or a stray argument is one line and exit code 2 (not a
  usage dump); SIGTERM is Ctrl-C from the start (interrupts.install)."""
  list_in_help(module, *flag_modules)

  def parse(argv):
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      fail(program, f"{e}; see --help")

  def checked(argv):
    interrupts.install()  # SIGTERM as Ctrl-C from here on, input checks included
    if len(argv) > 1:
      fail(program, f"unexpected arguments {' '.join(argv[1:])!r}; every option is "
           "a --flag (see --help)")
    return main()
  app.run(checked, flags_parser=parse)
