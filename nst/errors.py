"""The one exception type for problems a user can fix (bad file, flag or value)."""


class UserError(Exception):
  """A problem with the user's input; its message names the input and the fix.

  Entry points print it as one line and exit with code 2, without a traceback.
  """

  exit_code = 2
