"""utils/parse_options.sh: options set existing shell variables; anything else is an error."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

PARSE_OPTIONS = Path(__file__).resolve().parents[2] / "utils" / "parse_options.sh"


@pytest.fixture
def script(tmp_path):
    """A recipe-like script: defaults, then the parser, then print what it got."""
    path = tmp_path / "run.sh"
    path.write_text(f"""#!/usr/bin/env bash
set -euo pipefail
stage=1            # first stage to run
stop_stage=100
foo_bar="a b"
use_gpu=false
. {PARSE_OPTIONS}
echo "stage=$stage stop_stage=$stop_stage foo_bar=$foo_bar use_gpu=$use_gpu"
echo "args=$*"
""")
    return path


def run(script, *args):
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True)


def test_sets_variables_and_leaves_positional_args(script):
    out = run(script, "--stage", "3", "--stop-stage=5", "--foo-bar", "x y", "--use-gpu", "true",
              "data/x", "--not-an-option-any-more")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["stage=3 stop_stage=5 foo_bar=x y use_gpu=true",
                                       "args=data/x --not-an-option-any-more"]


def test_defaults_without_options(script):
    assert run(script).stdout.splitlines()[0] == "stage=1 stop_stage=100 foo_bar=a b use_gpu=false"


@pytest.mark.parametrize("args, message", [
    (["--stgae", "3"], "unknown option --stgae"),
    (["--stage"], "option --stage needs a value"),
    (["--use-gpu", "yes"], "option --use-gpu takes true or false, got 'yes'"),
    (["--bad.name", "1"], "unknown option --bad.name"),
])
def test_rejects_bad_options(script, args, message):
    out = run(script, *args)
    assert out.returncode == 1 and message in out.stderr and out.stdout == ""


def test_help_lists_the_variables(script):
    out = run(script, "--stage", "7", "--help")
    assert out.returncode == 0
    assert out.stdout.splitlines()[1:] == ["Options (current values):",
                                           "  --stage 7  # first stage to run",
                                           "  --stop-stage 100", "  --foo-bar a\\ b",
                                           "  --use-gpu false"]
