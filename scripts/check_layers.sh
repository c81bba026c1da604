#!/usr/bin/env bash
# Fails when a source file includes a header from a layer above its own (docs/ARCHITECTURE.md,
# "Layers"). Layers, lowest first; a file may include its own folder's headers and any layer
# below its own, never a layer above nor another folder of the same layer:
#   lib/core
#   lib/text lib/nn lib/export lib/detect   building blocks on the core, independent of each other
#   lib/viz                       draws with lib/text's tokens
#   data                          datasets, loader, batches
#   models                        every family (a family may build on another's modules)
#   lib/tasks                     tasks, and the registry of built-in tasks and families
#   lib/train                     the one loop over any task
#   lib/bench                     zoo bench
#   apps                          the binary
# tests/ may include anything.   scripts/check_layers.sh [ROOT]  (default: the repository)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
layers=("lib/core" "lib/text lib/nn lib/export lib/detect" "lib/viz" "data" "models" "lib/tasks" "lib/train" "lib/bench" "apps")

# The layer index of a path and the folder ("unit") it belongs to, or nothing outside the layers.
# unit_of sets $unit rather than printing it: a subshell per include made the check take 30 s.
declare -A level_of
for i in "${!layers[@]}"; do for unit in ${layers[$i]}; do level_of[$unit]=$i; done; done
unit_of() {
  local path=$1 candidate
  unit=""
  for candidate in "${!level_of[@]}"; do [[ $path == "$candidate"/* ]] && { unit=$candidate; return 0; }; done
  return 0
}

cd "$root"
bad=0 checked=0
mapfile -t files < <(find lib data models apps -name '*.h' -o -name '*.cpp' 2> /dev/null | sort)
for file in "${files[@]}"; do unit_of "$file"; [[ -n $unit ]] && checked=$((checked + 1)); done
# Every quoted include of every file, FILE:LINE:TEXT, from one grep (a process per file cost seconds).
while IFS=: read -r file line text; do
  [[ $text =~ \"([^\"]+)\" ]] || continue
  header=${BASH_REMATCH[1]}
  unit_of "$file"; from=$unit
  unit_of "$header"; to=$unit
  [[ -z $from || -z $to || $to == "$from" ]] && continue
  if ((level_of[$to] >= level_of[$from])); then
    echo "check_layers: $file:$line includes $header: $to is not below $from (layers, lowest first: ${layers[*]})"
    bad=$((bad + 1))
  fi
done < <(((${#files[@]})) && grep -nH '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "${files[@]}" || true)
if ((bad)); then
  echo "check_layers: $bad upward include(s) in $checked files"
  exit 1
fi
echo "check_layers: $checked files, every include points down"
