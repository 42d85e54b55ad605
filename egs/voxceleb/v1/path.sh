# Put the project's venv and the recipe utilities on PATH.
XMODAL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
export PATH="$XMODAL_ROOT/tools/venv/bin:$PWD/utils:$PATH"
export PYTHONUNBUFFERED=1
export LC_ALL=C
