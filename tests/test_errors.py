"""UserError's option: which input an error is about, for code; the message, for
people, spells it as the command's flag, and only errors.flag makes that spelling.

Fast: every error here comes before any optimisation (TensorFlow is not loaded).
"""

import ast
import glob
import os
import pickle
import re

import pytest

from helpers import photograph
import nst
from nst import errors
from nst import image
from nst.runs import jobs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def pair():
  return photograph(32), photograph(24)[::-1].copy()


@pytest.mark.parametrize("options,option,start", [
    (dict(tv_weight=-1.0), "tv_weight", "--tv_weight must be a finite number >= 0"),
    (dict(preset="fast"), "preset", "--preset must be one of original, paper"),
    (dict(style_layers="relu1_1,relu9_1"), "style_layers",
     "unknown layer 'relu9_1' in --style_layers; valid layers are"),
    (dict(style_scale=0.0), "style_scale", "--style_scale must be a number in (0, 4]"),
    (dict(style_strength=0.5, alpha=1e-3), "style_strength",
     "--style_strength sets --alpha"),
    (dict(style_min_positions=-1), "style_min_positions",
     "--style_min_positions must be >= 0"),
    (dict(pyramid="32:5,64:5,64:3"), "pyramid",
     "--pyramid: sizes 32,64,64: consecutive levels must differ"),
    (dict(small_pyramid="256:150"), "small_pyramid",
     "--small_pyramid: '256:150' must be size:iterations levels then 1x"),
    (dict(alpah=1.0), None, "unknown option alpah; valid options are"),
])
def test_api_errors_carry_the_option_and_the_clis_message(pair, options, option,
                                                          start):
  with pytest.raises(nst.UserError) as e:
    nst.transfer(*pair, **options)
  assert e.value.option == option
  assert str(e.value).startswith(start) and "\n" not in str(e.value)


def test_a_missing_image_is_of_its_option(tmp_path, pair):
  with pytest.raises(nst.UserError) as e:
    nst.transfer(str(tmp_path / "missing.png"), pair[1])
  assert e.value.option == "content_image"
  assert str(e.value).startswith("--content_image: no such file ")
  with pytest.raises(nst.UserError) as e:
    nst.transfer(pair[0], [pair[1], pair[1][..., :2]])  # the second artwork
  assert e.value.option == "style_image"
  assert str(e.value).startswith("--style_image: an array of shape (24, 24, 2)")


def test_an_existing_output_is_an_error_of_output(tmp_path, pair, weights_path):
  out = tmp_path / "r.png"
  out.write_bytes(b"an earlier result")
  with pytest.raises(nst.UserError) as e:
    nst.transfer(*pair, output=str(out), vgg_weights=str(weights_path))
  assert e.value.option == "output"
  assert str(e.value) == (f"--output: {str(out)!r} exists; pass --overwrite to "
                          "replace it, or choose another --output")


def test_library_functions_take_the_option_and_a_label_for_what_is_none(tmp_path):
  missing = str(tmp_path / "x.png")
  with pytest.raises(nst.UserError) as e:
    image.load_image(missing, "init")
  assert (e.value.option, str(e.value)) == (
      "init", f"--init: no such file {missing!r}; check the path")
  with pytest.raises(nst.UserError) as e:  # a frame of a clip is no option itself
    image.load_image(missing, "video", label="--video: frame")
  assert e.value.option == "video" and str(e.value).startswith("--video: frame: ")
  with pytest.raises(nst.UserError) as e:
    image.load_image(missing)
  assert e.value.option is None and str(e.value).startswith("image: no such file")


def test_the_other_commands_options_are_their_flags_names(tmp_path):
  with pytest.raises(nst.UserError) as e:
    jobs.read_manifest(str(tmp_path / "jobs.jsonl"))
  assert e.value.option == "manifest"
  assert str(e.value).startswith("--manifest: no such file")
  with pytest.raises(nst.UserError) as e:
    jobs.parse_sweep("alpha=1e-3,x")  # a run option's value: that option's error
  assert e.value.option == "alpha" and str(e.value).startswith("--sweep=alpha=")


def test_flag_spells_an_option_as_the_command_takes_it():
  assert errors.flag("tv_weight") == "--tv_weight"
  assert errors.UserError("x").option is None and errors.UserError.exit_code == 2


def test_the_option_survives_pickling():  # errors cross process boundaries (Ray)
  error = pickle.loads(pickle.dumps(errors.UserError("--fps must be", option="fps")))
  assert (str(error), error.option) == ("--fps must be", "fps")


# --- The flag text is made in one place -------------------------------------------

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9_]*")
# Other programs' flags that messages quote as they are.
OTHER_PROGRAMS = {"--head"}  # `ray start --head`


def literal_flags(source):
  """[(line, flag)] of every flag spelt in a string constant of a UserError(...)
  call's arguments in `source`."""
  found = []
  for node in ast.walk(ast.parse(source)):
    if not (isinstance(node, ast.Call) and getattr(
        node.func, "id", getattr(node.func, "attr", None)) == "UserError"):
      continue
    for argument in list(node.args) + [k.value for k in node.keywords]:
      for part in ast.walk(argument):
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
          found += [(node.lineno, f) for f in FLAG.findall(part.value)
                    if f not in OTHER_PROGRAMS]
  return found


def test_the_check_sees_a_literal_flag_in_every_form_of_message():
  source = ('raise UserError("--alpha and --beta")\n'
            'raise UserError(f"--tv_weight must be, got {x}", option="tv_weight")\n'
            'raise errors.UserError("a" + "b --init")\n'
            'raise UserError(f"{flag(\'alpha\')} is fine; `ray start --head` too")\n')
  assert literal_flags(source) == [(1, "--alpha"), (1, "--beta"), (2, "--tv_weight"),
                                   (3, "--init")]


def test_no_user_error_outside_the_cli_spells_a_flag_itself():
  """Only errors.flag spells an option as a flag (nst/cli/, the command-line layer,
  may); a message that names one builds it with flag(...)."""
  offenders = []
  for path in sorted(glob.glob(os.path.join(ROOT, "nst", "**", "*.py"),
                               recursive=True)):
    relative = os.path.relpath(path, ROOT).replace(os.sep, "/")
    if relative.startswith("nst/cli/") or relative == "nst/errors.py":
      continue
    with open(path, encoding="utf-8") as f:
      offenders += [f"{relative}:{line}: {flag}"
                    for line, flag in literal_flags(f.read())]
  assert not offenders, offenders
