#!/usr/bin/env bash
# scripts/check_layers.sh passes on the repository and fails, naming the file and the layers, on
# copies of it with an include planted upward and one planted sideways.
set -u
W=${ZOO_WORK:-/tmp/zoo-work}/layers
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
CHECK=$REPO/scripts/check_layers.sh

"$CHECK" "$REPO" > repo.txt 2>&1
check "the repository's includes all point down: $(tail -1 repo.txt)" test $? -eq 0

# plant COPY FILE LINE: a copy of the sources with LINE added to FILE.
plant() {
  rm -rf "$1" && mkdir -p "$1" && (cd "$REPO" && cp -r lib data models apps "$W/$1/") && echo "$3" >> "$1/$2"
}
plant upward data/batch.h '#include "lib/tasks/task.h"'
"$CHECK" "$W/upward" > upward.txt 2>&1
check "an upward include (data -> lib/tasks) fails" test $? -eq 1
check "  ... naming the file, the header and both layers" \
  grep -qE '^check_layers: data/batch.h:[0-9]+ includes lib/tasks/task.h: lib/tasks is not below data' upward.txt
plant sideways lib/nn/dropout.h '#include "lib/text/vocab.h"'
"$CHECK" "$W/sideways" > sideways.txt 2>&1
check "an include between folders of one layer (lib/nn -> lib/text) fails" test $? -eq 1
check "  ... naming it" grep -q '^check_layers: lib/nn/dropout.h:[0-9]* includes lib/text/vocab.h' sideways.txt
plant within models/lm/gpt.h '#include "models/vision/vit.h"'
"$CHECK" "$W/within" > within.txt 2>&1
check "one model family building on another passes" test $? -eq 0

echo "layers: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
