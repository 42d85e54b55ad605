# Source this file to use the project's venv: source tools/activate.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/venv/bin/activate"
