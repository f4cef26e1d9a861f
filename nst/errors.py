"""The one exception type for problems a user can fix (bad file, flag or value).

A UserError carries `option`, the name of the run option it is about (as in
config.OPTIONS and the API's keywords), so code can tell which input to fix without
reading the text. The text still spells the option as a flag (`--tv_weight`): the
Python API takes the command's flags by the same names and raises the command's own
one-line message. `flag` is the one place that spelling is made.
"""


class UserError(Exception):
  """A problem with the user's input; its message names the input and the fix.

  `option`: the option the error is mainly about ("content_image", "tv_weight"; for
  the other commands' own flags, e.g. nst-batch's manifest, the flag's name), or
  None when it is about no single option. Entry points print the message as one
  line and exit with code 2, without a traceback.
  """

  exit_code = 2

  def __init__(self, message, option=None):
    super().__init__(message)
    self.option = option


def flag(option):
  """How users give `option`: the command's flag, e.g. "--tv_weight"."""
  return f"--{option}"


def subject(option, label=None):
  """What a message names as its input: `label` when the caller gave one (an input
  that is no option by itself, e.g. "--video: frame"), else the option's flag."""
  return flag(option) if label is None else label
