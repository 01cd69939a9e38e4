#!/usr/bin/env bash
# Fails when generated files or go.mod/go.sum are stale: it regenerates them
# (make generate manifests, go mod tidy) and checks that nothing under api/,
# config/, go.mod or go.sum changed.
#
# What counts is what the regeneration changes. On a clean checkout, as in CI,
# that is every difference `git status --porcelain` would show; on a machine
# with work in progress, edits made before the run are not blamed on it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PATHS=(api config charts docs/api.md go.mod go.sum)

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "verify: $ROOT is not a git work tree; cannot tell whether generated files changed" >&2
  exit 1
fi

# snapshot prints a digest of the state of PATHS: which files differ from
# HEAD or are untracked, and their content.
snapshot() {
  {
    git status --porcelain --untracked-files=all -- "${PATHS[@]}"
    git diff HEAD --binary -- "${PATHS[@]}"
    git ls-files --others --exclude-standard -z -- "${PATHS[@]}" | xargs -0 -r sha256sum
  } | sha256sum
}

before="$(snapshot)"
make --no-print-directory generate manifests
go mod tidy
after="$(snapshot)"

if [[ "$before" != "$after" ]]; then
  {
    echo
    echo "verify: FAILED: generated files or go.mod/go.sum were out of date."
    echo "Regenerating changed them; this is what differs from the last commit now:"
    git status --porcelain --untracked-files=all -- "${PATHS[@]}" | sed 's/^/    /'
    echo
    echo "Run 'make generate manifests' and 'go mod tidy', review the changes, and commit them."
  } >&2
  exit 1
fi
echo "verify: generated files and go.mod/go.sum are up to date"
