#!/usr/bin/env bash
# Kaldi-style option parsing for recipe scripts; source it after setting the defaults:
#
#   stage=1
#   stop_stage=100
#   . utils/parse_options.sh
#
# Each leading "--foo-bar VALUE" (or "--foo-bar=VALUE") sets the shell variable foo_bar,
# which must already exist; a variable whose default is true/false only takes true/false.
# Parsing stops at the first argument that is not an option (or after "--"); the positional
# arguments that remain are left in "$@". "--help" lists the options of the calling script
# (its NAME=VALUE lines above the line that sources this file) and exits.

_po_script=${BASH_SOURCE[1]:-$0}

_po_help() {
  echo "Usage: $_po_script [options] [args]"
  echo "Options (current values):"
  local line name
  while IFS= read -r line; do
    case $line in *parse_options.sh*) break ;; esac
    if [[ $line =~ ^([a-zA-Z_][a-zA-Z0-9_]*)= ]]; then
      name=${BASH_REMATCH[1]}
      local comment=""
      [[ $line =~ [[:space:]]#[[:space:]]*(.*)$ ]] && comment="  # ${BASH_REMATCH[1]}"
      printf '  --%s %q%s\n' "${name//_/-}" "${!name-}" "$comment"
    fi
  done < "$_po_script"
}

while [ $# -gt 0 ]; do
  case $1 in
    --help|-h)
      _po_help
      exit 0 ;;
    --)
      shift
      break ;;
    --*=*)
      _po_opt=${1%%=*}
      _po_value=${1#*=}
      shift ;;
    --*)
      _po_opt=$1
      if [ $# -lt 2 ]; then
        echo "$_po_script: option $_po_opt needs a value" >&2
        exit 1
      fi
      _po_value=$2
      shift 2 ;;
    *)
      break ;;
  esac
  _po_name=${_po_opt#--}
  _po_name=${_po_name//-/_}
  if ! [[ $_po_name =~ ^[a-zA-Z_][a-zA-Z0-9_]*$ ]] || [ -z "${!_po_name+set}" ]; then
    echo "$_po_script: unknown option $_po_opt (try --help)" >&2
    exit 1
  fi
  case ${!_po_name} in
    true|false)
      case $_po_value in
        true|false) ;;
        *) echo "$_po_script: option $_po_opt takes true or false, got '$_po_value'" >&2
           exit 1 ;;
      esac ;;
  esac
  printf -v "$_po_name" '%s' "$_po_value"
done
unset _po_opt _po_value _po_name
true
