#!/usr/bin/env bash
# Uninstall the development-only packages that backend/scripts/check_dev_deps_in_runtime.py finds in
# the runtime environment, and nothing else.
#
#   scripts/repair-dev-deps.sh [--dry-run] [--yes] [--python PATH] [--requirements F] [--dev-requirements F]
#
#   --dry-run      list what would be uninstalled, change nothing
#   --yes          do not ask for confirmation
#   --python PATH  the runtime interpreter (default: $RUNTIME_PYTHON, else .venv/bin/python, else python3)
#   --requirements / --dev-requirements FILE   passed to the check (default: backend/requirements*.txt)
#
# Without --yes it asks; an answer other than y/yes, or no answer at all (a non-interactive stdin
# at end of input), means no. Exit: 0 nothing left to remove, 1 declined, packages remain or (with
# --dry-run) packages found,
# 2 the check could not run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dry_run=0
assume_yes=0
python=${RUNTIME_PYTHON:-}

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
check_args=()

while [ $# -gt 0 ]; do
    case $1 in
        --dry-run) dry_run=1 ;;
        --yes | -y) assume_yes=1 ;;
        --python)
            [ $# -ge 2 ] || { echo "--python needs a path" >&2; exit 2; }
            python=$2; shift ;;
        --python=*) python=${1#--python=} ;;
        --requirements | --dev-requirements)
            [ $# -ge 2 ] || { echo "$1 needs a file" >&2; exit 2; }
            check_args+=("$1" "$2"); shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

if [ -z "$python" ]; then
    if [ -x "$root/.venv/bin/python" ]; then
        python=$root/.venv/bin/python
    else
        python=$(command -v python3 || command -v python) || { echo "no Python found" >&2; exit 2; }
    fi
fi

check() { "$python" "$root/backend/scripts/check_dev_deps_in_runtime.py" ${check_args[@]+"${check_args[@]}"}; }

set +e
packages=$(check)
status=$?
set -e
case $status in
    0) echo "No development-only packages installed in $python."; exit 0 ;;
    1) ;;
    *) echo "The dev-dependency check failed (exit $status); nothing uninstalled." >&2; exit 2 ;;
esac

# shellcheck disable=SC2086  # package names are single words
set -- $packages
echo "Development-only packages installed in $python:"
printf '  %s\n' "$@"

if [ "$dry_run" = 1 ]; then
    # exit 1 like the check itself: a dry run that finds packages is not a clean bill of health
    echo "Dry run: nothing uninstalled."
    exit 1
fi

if [ "$assume_yes" != 1 ]; then
    answer=""
    if [ -t 0 ]; then
        printf 'Uninstall these %d package(s)? [y/N] ' "$#"
    fi
    read -r answer || true
    case $answer in
        y | Y | yes | YES | Yes) ;;
        *) echo "Not confirmed: nothing uninstalled."; exit 1 ;;
    esac
fi

"$python" -m pip uninstall --yes --disable-pip-version-check "$@"

set +e
remaining=$(check)
status=$?
set -e
if [ "$status" = 0 ]; then
    echo "Done: no development-only packages remain."
    exit 0
fi
echo "Still installed after uninstalling:" >&2
printf '  %s\n' $remaining >&2
exit 1
