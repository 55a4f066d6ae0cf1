#!/usr/bin/env bash
# Make the working tree fit the GPU machine's 64 MiB beside the packed datasets, and put it back after.
#
#   scripts/device_tree.sh aside [KEEP...]  # before the device call: the shipped weights leave the tree
#                                           # (but the KEEP files, e.g. synth/weights/landscape.safetensors)
#   scripts/device_tree.sh back    # after it: they return, and `git status` is clean again
#
# The tracked tree (≈ 40 MB of it synth/weights, ≈ 36 MB train_state/) plus .data (≈ 23 MB) is over the
# limit. scripts/gpu_train.sh needs none of synth/weights: it trains its own segmenters and resumes the
# generators from train_state/ (RESUME=train_state). `aside` unstages those files (git rm --cached, so
# the device tool neither copies nor misses them) and moves them into runs/aside/ (git-ignored, never
# carried); `back` moves them back and restages them. Nothing is committed either way.
set -euo pipefail
cd "$(dirname "$0")/.."
ASIDE=runs/aside
case "${1:-}" in
aside)
    shift
    files=$(git ls-files synth/weights)
    [ -n "$files" ] && [ ! -d "$ASIDE/synth/weights" ] || {
        echo "device_tree.sh: synth/weights is already aside (scripts/device_tree.sh back first)" >&2
        exit 2
    }
    for k in "$@"; do
        grep -qxF -- "$k" <<<"$files" || { echo "device_tree.sh: KEEP $k is not a tracked file in synth/weights" >&2; exit 2; }
    done
    moved=0
    for f in $files; do
        printf '%s\n' "$@" | grep -qxF -- "$f" && continue
        mkdir -p "$ASIDE/$(dirname "$f")" && mv "$f" "$ASIDE/$f"
        git rm -q --cached "$f"
        moved=$((moved + 1))
    done
    echo "aside: $moved files (kept: ${*:-none}); the tree that travels is now" \
        "$(git ls-files -z | xargs -0 du -cb | tail -n 1 | cut -f1) bytes"
    ;;
back)
    [ -d "$ASIDE/synth/weights" ] || { echo "device_tree.sh: nothing in $ASIDE/synth/weights" >&2; exit 2; }
    (cd "$ASIDE" && find synth/weights -type f) | while read -r f; do
        mkdir -p "$(dirname "$f")" && mv "$ASIDE/$f" "$f"
    done
    find "$ASIDE/synth" -depth -type d -empty -delete  # nothing left aside: a later `aside` may go on
    git reset -q -- synth/weights
    git status --short synth/weights
    echo "back: synth/weights restored"
    ;;
*)
    echo "usage: scripts/device_tree.sh aside [KEEP...] | back" >&2
    exit 2
    ;;
esac
