# Helpers of the end-to-end CLI tests, sourced by each tests/cli/test_*.sh after it set $W (its
# scratch folder). Environment (set by ctest): ZOO (the binary), ZOO_WORK (scratch root),
# ZOO_SHARED_DATA; ZOO_PYTHON (default /usr/bin/python3, Debian's, with torch).
ZOO=${ZOO:?path of the zoo binary}
PY=${ZOO_PYTHON:-/usr/bin/python3}
CLI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)  # this folder, for the helper scripts beside it
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
passed=0 failed=0 skipped=0
# Two budgets. By default (CI) the runs that show learning take a few steps: enough for every
# check of files, formats, parity and errors downstream of them, and the checks of what they
# learnt are listed as skipped. ZOO_TEST_FULL=1 (scripts/test.sh --full) gives them the steps
# those checks need and runs the checks.
FULL=${ZOO_TEST_FULL:-0}
# budget FULL QUICK: the number for this mode.
budget() { if [[ $FULL == 1 ]]; then echo "$1"; else echo "$2"; fi; }
# learned NAME CMD...: a check of what training learnt, run in the full mode only.
learned() {
  if [[ $FULL == 1 ]]; then check "$@"; else skipped=$((skipped + 1)); echo "skip - $1 (a learning check: ZOO_TEST_FULL=1)"; fi
}
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

# expect CODE PATTERN ARGS...: zoo exits with CODE and, on failure, prints exactly one line
# on stderr that matches PATTERN.
expect() {
  local code=$1 pattern=$2; shift 2
  "$ZOO" "$@" > out.txt 2> err.txt
  local rc=$?
  local lines; lines=$(wc -l < err.txt)
  if [[ $rc -ne $code ]]; then bad "zoo $* -> exit $rc (want $code): $(head -c 300 err.txt)"; return; fi
  if [[ $code -ne 0 ]] && { [[ $lines -ne 1 ]] || ! grep -qE -- "$pattern" err.txt; }; then
    bad "zoo $* -> stderr not one line matching '$pattern': $(cat err.txt)"; return
  fi
  ok "zoo $* -> $code"
}
# expect_last CODE PATTERN ARGS...: zoo exits with CODE and its last stderr line (after the
# training log a failing run prints first) matches PATTERN and names the problem on one line.
expect_last() {
  local code=$1 pattern=$2; shift 2
  "$ZOO" "$@" > out.txt 2> err.txt
  local rc=$?
  if [[ $rc -ne $code ]]; then bad "zoo $* -> exit $rc (want $code): $(tail -c 300 err.txt)"; return; fi
  if ! tail -n 1 err.txt | grep -qE -- "$pattern"; then bad "zoo $* -> last stderr line does not match '$pattern': $(tail -n 2 err.txt)"; return; fi
  ok "zoo $* -> $code"
}
# json FILE EXPR: EXPR evaluated in Python on the JSON document d of FILE.
json() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(($2))" "$3"; }
ge() { $PY -c "import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)" "$1" "$2"; }

# Prints the summary line and sets the exit status.
finish() {
  echo "${1:-}${1:+: }$passed passed, $failed failed$( ((skipped)) && echo ", $skipped learning checks skipped")"
  [[ $failed -eq 0 ]]
}
