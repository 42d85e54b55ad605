#!/usr/bin/env bash
# Set up everything xmodal needs: Debian packages, a venv at tools/venv, the package itself.
# Idempotent: a second run with unchanged inputs returns at once.
#   --with-slurm   also install Slurm and MUNGE (slurmctld, slurmd, munged, sbatch), which
#                  only the Slurm backend's test needs: it starts a one-node cluster of its
#                  own. `make test` passes it; the recipes and `make demo` do not need it.
set -euo pipefail

with_slurm=false
for arg in "$@"; do
  case $arg in
    --with-slurm) with_slurm=true ;;
    *) echo "install.sh: unknown option '$arg' (known: --with-slurm)" >&2; exit 2 ;;
  esac
done

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$tools_dir")
venv=$tools_dir/venv
python=${PYTHON:-python3}
# Pinned for this machine's local wheels; setup.py keeps ranges for users.
torch_pins="torch==2.14.1 torchaudio==2.11.0"

# program:Debian package (Slurm's daemons live in sbin, which a non-root PATH may lack).
programs="espeak-ng:espeak-ng ffmpeg:ffmpeg sox:sox"
$with_slurm && programs="$programs munged:munge slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client"
have() {
  command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ]
}
missing_programs() {
  local cmd_pkg
  for cmd_pkg in $programs; do
    have "${cmd_pkg%%:*}" || echo "${cmd_pkg#*:}"
  done
}

stamp_inputs() {
  cat "$root/setup.py" "$tools_dir/install.sh"
}
stamp=$venv/.xmodal-installed
want=$(stamp_inputs | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -z "$(missing_programs)" ]; then
  echo "install.sh: already set up ($venv)"
  exit 0
fi

mapfile -t missing < <(missing_programs)
[ -e /usr/lib/x86_64-linux-gnu/libespeak-ng.so.1 ] || ldconfig -p | grep -q libespeak-ng.so.1 \
  || missing+=(libespeak-ng1)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install.sh: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd=sudo
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "install.sh: creating $venv"
  "$python" -m venv "$venv"
fi
pip_install() {
  # Local mirrors on some machines warn about every package they lack; keep the log readable.
  "$venv/bin/python" -m pip install -q "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }
}
pip_install --upgrade pip
echo "install.sh: installing $torch_pins"
pip_install $torch_pins
echo "install.sh: installing xmodal[dev,export]"
pip_install -e "$root[dev,export]"
"$venv/bin/python" -c "import torch, torchaudio, av, cv2, kaldiio; print('install.sh: torch', torch.__version__, 'torchaudio', torchaudio.__version__)"
echo "$want" > "$stamp"
