"""The documentation against the code: the README's length and quick start, every
relative link (and #anchor) in README.md and docs/*.md, docs/design.md's module map
against the tree, and docs/flags.md against the flags the `nst` command defines and
the options of nst.OPTIONS.

Fast: nothing here runs TensorFlow or the `nst` command.
"""

import functools
import glob
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The flags of the `nst` command: its own and the shared --serve flags. Read in a child
# Python that only imports the command's module (absl registers the flags on import):
# in this process the global absl FLAGS may already hold same-named flags of another
# program (tests/test_figures.py imports scripts/figure_common.py, which defines
# --image_size), and defining them twice is an error.
_CLI_FLAGS = r"""
import importlib, json, sys
from absl import flags
from nst.cli import serve_flags
program = importlib.import_module(sys.argv[1])
getattr(program, "_define_flags", lambda: None)()  # nst-batch defines them on demand
modules = (program.__name__, serve_flags.__name__)
print(json.dumps({f.name: bool(f.boolean) for module in modules
                  for f in flags.FLAGS.get_flags_for_module(module)}))
"""


@functools.lru_cache(maxsize=None)
def cli_flags(program="nst.cli.main"):
  """{name: is boolean} of every flag a program defines (default: `nst`'s), with
  the shared --serve flags. The one place that knows which modules define them."""
  result = subprocess.run([sys.executable, "-c", _CLI_FLAGS, program], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 0, result.stderr
  return json.loads(result.stdout.strip().splitlines()[-1])


def cli_flag_names():
  return set(cli_flags())


# Flags absl gives every program, and the negative form of a boolean flag (--noplot).
ABSL_FLAGS = {"flagfile", "help", "helpfull", "helpshort"}


def known_flag_words(programs=("nst.cli.main",)):
  flags = {}
  for program in programs:
    flags.update(cli_flags(program))
  return set(flags) | {f"no{name}" for name, boolean in flags.items() if boolean} | \
      ABSL_FLAGS


def read(path):
  with open(os.path.join(ROOT, path), encoding="utf-8") as f:
    return f.read()


def markdown_files():
  return ["README.md"] + sorted(
      os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))


def without_code_blocks(text):
  """The text with fenced code blocks blanked (their lines kept, empty)."""
  lines, fenced = [], False
  for line in text.splitlines():
    if line.lstrip().startswith("```"):
      fenced = not fenced
      lines.append("")
      continue
    lines.append("" if fenced else line)
  return "\n".join(lines)


def slug(heading):
  """GitHub's anchor of a heading: lower case, punctuation but - and _ dropped,
  spaces as -."""
  text = heading.strip().lower().replace("`", "")
  text = re.sub(r"[^\w\- ]", "", text)
  return text.replace(" ", "-")


def anchors(path):
  """Every anchor the headings of markdown file `path` make (repeats get -1, -2...)."""
  seen, result = {}, set()
  for line in without_code_blocks(read(path)).splitlines():
    match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
    if not match:
      continue
    base = slug(match[1])
    count = seen.get(base, 0)
    seen[base] = count + 1
    result.add(base if count == 0 else f"{base}-{count}")
  return result


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def links(path):
  """The targets of every markdown link and image in `path`, outside code blocks."""
  return LINK.findall(without_code_blocks(read(path)))


def section(text, title):
  """The lines of the `## title` section of `text`, up to the next ## heading."""
  lines = text.splitlines()
  start = lines.index(f"## {title}")
  end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
             len(lines))
  return lines[start + 1:end]


def code_blocks(lines):
  """The contents of the fenced code blocks in `lines`, each a list of lines."""
  blocks, current = [], None
  for line in lines:
    if line.lstrip().startswith("```"):
      if current is None:
        current = []
      else:
        blocks.append(current)
        current = None
    elif current is not None:
      current.append(line)
  return blocks


def commands(block):
  return [line.strip() for line in block
          if line.strip() and not line.strip().startswith("#")]


def ci_test_command():
  """The command .ci/run ends with: the README's test command."""
  lines = [line.strip() for line in read(".ci/run").splitlines()]
  return [line for line in lines if line and not line.startswith("#")][-1]


# --- README ----------------------------------------------------------------------------


def test_readme_fits_in_250_lines():
  assert len(read("README.md").splitlines()) <= 250


def test_quick_start_is_two_commands_the_second_the_ci_test_command():
  quick_start = section(read("README.md"), "Quick start")
  blocks = code_blocks(quick_start)
  assert len(blocks) == 1, "the quick start has one code block"
  lines = commands(blocks[0])
  assert len(lines) == 2, lines
  run, test = lines
  assert test == ci_test_command()
  # The first installs nst, fetches the weights and runs the main job.
  assert run.startswith("pip install -e . && nst-fetch-weights && nst ")


def test_quick_start_has_no_counts_or_timings():
  prose = "\n".join(section(read("README.md"), "Quick start"))
  found = re.findall(r"\b\d[\d,.]*\s*(?:s|secs?|seconds?|min|minutes?|h|hours?|"
                     r"passed|skipped|failed|tests?)\b", prose)
  assert not found, found


def test_readme_links_every_docs_page():
  linked = {os.path.normpath(target.split("#")[0]) for target in links("README.md")}
  pages = {p for p in markdown_files() if p != "README.md"}
  assert pages, "docs/ has pages"
  assert pages <= linked, sorted(pages - linked)


# --- Links -----------------------------------------------------------------------------


def test_every_relative_link_resolves():
  broken, count = [], 0
  for path in markdown_files():
    for target in links(path):
      if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
        continue
      count += 1
      file_part, _, anchor = target.partition("#")
      resolved = (os.path.normpath(os.path.join(os.path.dirname(path), file_part))
                  if file_part else path)
      if not os.path.exists(os.path.join(ROOT, resolved)):
        broken.append(f"{path}: {target} (no file {resolved})")
      elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
        broken.append(f"{path}: {target} (no heading #{anchor} in {resolved})")
  assert count > 50, f"only {count} relative links found: the parser is broken"
  assert not broken, "\n".join(broken)


def test_slug_matches_githubs_anchors():
  assert slug("Why 1e-6 and not 1e-3") == "why-1e-6-and-not-1e-3"
  assert slug("Scale control: coarse-to-fine") == "scale-control-coarse-to-fine"
  assert slug("Replicating the paper's figures") == "replicating-the-papers-figures"
  assert slug("The presets, and why this default") == "the-presets-and-why-this-default"


# --- Flags -----------------------------------------------------------------------------


def flags_table_rows():
  """The flag of every row of docs/flags.md's tables, in order."""
  return re.findall(r"^\|\s*`--([a-z][a-z0-9_]*)`\s*\|", read("docs/flags.md"),
                    re.MULTILINE)


def test_the_cli_helper_finds_the_flags():
  names = cli_flag_names()
  assert {"content_image", "style_image", "output", "preset", "serve"} <= names
  assert "flagfile" not in names and "helpfull" not in names  # absl's own


def test_flags_md_has_a_row_for_every_flag_of_nst_and_no_other():
  rows = flags_table_rows()
  assert len(rows) == len(set(rows)), "a flag listed twice"
  names = cli_flag_names()
  assert not names - set(rows), f"flags of nst missing: {sorted(names - set(rows))}"
  assert not set(rows) - names, f"rows of no flag of nst: {sorted(set(rows) - names)}"


def test_flags_md_lists_every_option():
  import nst  # pylint: disable=g-import-not-at-top
  rows = set(flags_table_rows())
  missing = sorted(set(nst.OPTIONS) - rows)
  assert not missing, f"options of nst.OPTIONS missing from docs/flags.md: {missing}"


def test_flags_md_names_no_flag_that_does_not_exist():
  named = set(re.findall(r"(?<![\w-])--([a-z][a-z0-9_]*)", read("docs/flags.md")))
  unknown = sorted(named - known_flag_words())
  assert not unknown, f"docs/flags.md names flags nst does not have: {unknown}"


def test_readme_names_no_flag_that_does_not_exist():
  named = set(re.findall(r"(?<![\w-])--([a-z][a-z0-9_]*)", read("README.md")))
  unknown = sorted(named - known_flag_words(("nst.cli.main", "nst.cli.batch",
                                             "nst.cli.video")))
  assert not unknown, f"README.md names flags nst does not have: {unknown}"


def test_the_module_map_matches_the_code():
  """docs/design.md names every module of nst/ (and the page), and only those (an
  empty package __init__.py is not a module worth a row)."""
  design = read("docs/design.md")
  section = design[design.index("## Module map"):design.index("## A run, step by step")]
  named = set(re.findall(r"`(nst/[\w/]+\.(?:py|html))`", section))
  tree = {os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "nst", "**", "*"),
                                                      recursive=True)
          if p.endswith((".py", ".html")) and os.path.getsize(p) > 0}
  assert not tree - named, f"modules missing from the module map: {sorted(tree - named)}"
  assert not named - tree, f"the module map names no such module: {sorted(named - tree)}"
