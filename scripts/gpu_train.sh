#!/usr/bin/env bash
# One unattended GPU training job: both embedded generators and both segmenters side by side on one GPU.
#
#   scripts/gpu_train.sh MINUTES DATA OUT [RESUME]
#
# MINUTES  training minutes for this job (each of the four runs stops by then)
# DATA     a copy of the datasets: DATA/stanford_background and DATA/facades (see `synth.data.pack`)
# OUT      where the results go: OUT/<model>/<palette>.safetensors (EMA generator, fp16) and
#          OUT/<model>/resume-D.safetensors (fp16), OUT/seg/seg-<palette>.safetensors, OUT/logs.tar.gz.
#          Every file is < 16 MiB; <palette>.safetensors + resume-D.safetensors are what --resume needs
#          (+ resume-P.safetensors, 2.5 MB, from a run with --patch-d: an eighth file with one such run; the
#          device brings back 8, so with both generators on --patch-d set SEGMENTERS=0).
# RESUME   optional: an OUT of an earlier job; its generators continue (total minutes add up), and its
#          segmenters are kept (SEGMENTERS=0) or retrained from scratch (SEGMENTERS=1, the default).
#          RESUME/<model>/ may hold resume-D.safetensors alone (what fits beside the repo in a 64 MiB
#          carry): the generator is then the shipped one (SHIPPED/<palette>.safetensors, default
#          synth/weights), used only when it comes from the same step of the same run.
#          RESUME=train_state continues the runs whose state is committed there (train_state/README.md);
#          `scripts/device_tree.sh aside` first, so that the tree and the data fit the 64 MiB carry.
#
# A generator with nothing to resume starts from INIT/<palette>.safetensors when that is a v2 generator
# (INIT defaults to SHIPPED; INIT= trains it from scratch): `daub train --init-weights` with a fresh
# discriminator that trains alone for D_WARMUP steps first, all at full resolution. On the GPU machine,
# `scripts/device_tree.sh aside synth/weights/landscape.safetensors` keeps that file in the tree.
#
# Needs only python3 with torch, numpy, pillow, safetensors, tqdm (no gradio): run from the repo root.
set -uo pipefail
MIN=${1:?minutes}; DATA=${2:?data folder}; DEST=${3:?output folder}; RESUME=${4:-}
SEGMENTERS=${SEGMENTERS:-1}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu for a dry run
GEN_ARGS=${GEN_ARGS:-}  # extra `daub train` arguments for the generators (e.g. "--batch 2 --batch-full 2")
SEG_ARGS=${SEG_ARGS:-}  # extra arguments for the segmenters
# per-model extra arguments; facades: those that finished the shipped facades v2 (README model card)
LANDSCAPE_ARGS=${LANDSCAPE_ARGS:-}
FACADES_ARGS=${FACADES_ARGS:---spectral 2 --spectral-axis 3 --spectral-bands 4 --diversity 0.5 --diversity-pool 4}
SHIPPED=${SHIPPED:-synth/weights}  # the shipped generators (the partner of a lone resume-D)
INIT=${INIT-$SHIPPED}  # where a generator with no resume state starts from (empty: from scratch)
D_WARMUP=${D_WARMUP:-200}  # steps of discriminator-only training after such a start
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
WORK=${WORK:-runs/gpu}
mkdir -p "$WORK" "$DEST"
if [ "$DEVICE" = cuda ]; then
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    # MPS=1: let the four processes' kernels run concurrently instead of time-slicing (untried here yet)
    if [ "${MPS:-0}" = 1 ] && command -v nvidia-cuda-mps-control >/dev/null; then
        export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
        mkdir -p /tmp/mps /tmp/mps-log && nvidia-cuda-mps-control -d && echo "MPS on"
        trap 'echo quit | nvidia-cuda-mps-control' EXIT
    fi
    python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" || exit 1
fi

same_step() {  # generator.safetensors resume-D.safetensors: true when both were saved at one step
    python3 -c "import json, sys; from safetensors import safe_open
g, d = (safe_open(f, 'pt').metadata() for f in sys.argv[1:])
sys.exit(json.loads(g['info'])['steps'] != int(d['step']))" "$1" "$2"
}

is_v2() {  # generator.safetensors: true when it is a 3D-noise (v2) generator, what daub train trains
    [ -f "$1" ] && python3 -c "import json, sys; from safetensors import safe_open
sys.exit(not json.loads(safe_open(sys.argv[1], 'pt').metadata()['config']).get('noise_3d'))" "$1" 2>/dev/null
}

resume_files() {  # model palette: put what --resume needs into WORK/<model>; false when there is none
    local name=$1 pal=$2 src=$RESUME/$1 g
    [ -n "$RESUME" ] && [ -f "$src/resume-D.safetensors" ] || return 1
    g=$src/$pal.safetensors
    if [ ! -f "$g" ]; then
        g=$SHIPPED/$pal.safetensors
        if ! same_step "$g" "$src/resume-D.safetensors"; then
            echo "$name: $src has resume-D.safetensors only and $g is not from its step: not resuming"
            return 1
        fi
        echo "$name: resuming the shipped generator $g with $src/resume-D.safetensors"
    fi
    [ "$RESUME" -ef "$WORK" ] && return 0
    cp "$src"/resume-*.safetensors "$WORK/$name/" && cp "$g" "$WORK/$name/$pal.safetensors"
}

train_generator() {  # model palette dataset extra-arguments
    local name=$1 pal=$2 ds=$3 extra=$4 total=$MIN resume=()
    mkdir -p "$WORK/$name"
    if resume_files "$name" "$pal"; then
        total=$(python3 -c "import json,sys; from safetensors import safe_open
m = safe_open(sys.argv[1], 'pt').metadata(); print(round(json.loads(m['elapsed']) / 60 + $MIN, 2))" \
            "$WORK/$name/resume-D.safetensors")
        resume=(--resume)
    elif [ -n "$INIT" ] && is_v2 "$INIT/$pal.safetensors"; then
        echo "$name: nothing to resume; starting from the generator $INIT/$pal.safetensors" \
            "with a fresh discriminator ($D_WARMUP steps alone first)"
        resume=(--init-weights "$INIT/$pal.safetensors" --d-warmup "$D_WARMUP" --lowres-fraction 0)
    else
        echo "$name: nothing to resume; training from scratch"
    fi
    python3 -m synth train --device "$DEVICE" --dataset "$DATA/$ds" --palette "$pal" --out "$WORK/$name" \
        --minutes "$total" --steps 1000000 --lowres-steps 1000000 --lowres-fraction 0.3 \
        --batch 64 --batch-full 32 --ckpt-every 1000 --sample-every 1000 --profile 10 "${resume[@]}" $extra $GEN_ARGS \
        >"$WORK/$name/stdout.log" 2>&1
    echo "$name: exit $? $(tail -c 300 "$WORK/$name/stdout.log" | tr '\r' '\n' | tail -n 1)"
}

train_segmenter() {  # palette dataset size (the shipped judges' recipe, README model card, at batch 32)
    local pal=$1 ds=$2 size=$3
    mkdir -p "$WORK/seg"
    python3 -m synth train --segmenter --device "$DEVICE" --dataset "$DATA/$ds" --palette "$pal" --out "$WORK/seg" \
        --minutes "$MIN" --batch 32 --seg-channels 24,48,96,192,256 --seg-context --seg-balance 0.5 \
        --seg-size "$size" $SEG_ARGS \
        >"$WORK/seg/stdout-$pal.log" 2>&1
    echo "seg-$pal: exit $? $(tail -n 1 "$WORK/seg/stdout-$pal.log")"
}

train_generator landscape landscape stanford_background "$LANDSCAPE_ARGS" &
train_generator facades facades facades "$FACADES_ARGS" &
if [ "$SEGMENTERS" = 1 ]; then
    train_segmenter landscape stanford_background 256x192 &
    train_segmenter facades facades 256x256 &
fi
wait

for name in landscape facades; do
    mkdir -p "$DEST/$name"
    cp "$WORK/$name/$name.safetensors" "$WORK/$name/resume-D.safetensors" "$DEST/$name/" 2>/dev/null
    [ -f "$WORK/$name/resume-P.safetensors" ] && cp "$WORK/$name/resume-P.safetensors" "$DEST/$name/"  # --patch-d
done
if [ "$SEGMENTERS" = 1 ]; then
    mkdir -p "$DEST/seg" && cp "$WORK"/seg/seg-*.safetensors "$DEST/seg/" 2>/dev/null
fi
# logs, profiles (10 steps each) and the last two sample sheets of each generator
sheets=$(for name in landscape facades; do ls "$WORK/$name"/samples/step_*.png 2>/dev/null | tail -n 2; done)
tar czf "$DEST/logs.tar.gz" "$WORK"/*/log.jsonl "$WORK"/*/stdout*.log "$WORK"/*/profile.txt $sheets 2>/dev/null
ls -la "$DEST"/*
