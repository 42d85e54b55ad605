#!/usr/bin/env bash
# The staged pipeline every xmodal recipe runs (called from egs/*/v1/run.sh).
# Stage 1: data dirs (recipe's local/data.sh)   Stage 2: dump features and face frames
# Stage 3: self-supervised training, one run per --ssl-configs, --recon-configs and
#          --facegen-configs entry
# Stage 4: self-supervised task evaluation on ssl_test (paper Table 2) and the post-hoc
#          leakage meter; the face generators' held-out tests (mouth error against two
#          baselines, sync curve); fails if a trained loss did not leave chance
# Stage 5: identity/content embeddings of spk_test and of a sample of ssl_train (Kaldi
#          ark/scp), for the trained models and the floors (an untrained model, the mean
#          log-mel vector)
# Stage 6: raw cosine scores of the spk_test trials (Table 3), and mean-subtracted and
#          AS-normalised ones (extra columns); EER/minDCF with 95% intervals
# Stage 7: one FC layer with n-pair loss on spk_dev speaker subsets; supervised baseline (Table 4)
# Stage 8: linguistic-content probe; downstream tasks (emotion, words, speaker id) on every
#          frozen encoder, the floors and a supervised ceiling
# Stage 9: a pack of every trained encoder (exp/<tag>/pack: weights, scoring mean, score
#          calibration on held-out spk_cal speakers, model card) for xmodal embed/verify/export
# After stage 8 or 9: exp/RESULTS.md with tables and plots
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (xmodal.sh:${BASH_LINENO[0]}) $*"; }

stage=1
stop_stage=9
nj=2                      # parallel jobs for dump
local_data_opts=""        # passed to local/data.sh
dump_config=conf/dump.yaml
sets="ssl_train ssl_test spk_dev spk_test"
datadir=data              # Kaldi data dirs (written by stage 1's local/data.sh)
dumpdir=dump
expdir=exp
ssl_configs="conf/ssl_content.yaml conf/ssl_identity.yaml conf/ssl_id_content.yaml conf/ssl_id_content_dis.yaml"
# Stafylakis et al. 2019 (method: reconstruction): x-vectors, trained on ssl_train's audio;
# stage 4 (face-track tasks) skips them, stages 5-8 treat them like the cross-modal models.
recon_configs=""
# Shukla et al. 2020 (method: face_generation): audio encoders trained by generating the
# lower face from the audio and a still frame, on ssl_train's face-tracks; stage 4 tests the
# generator on ssl_test, stages 5-8 treat the audio encoder like every encoder.
facegen_configs=""
# The labelled set of the semi-supervised reconstruction configs (data.labels: labelled): a
# spk_dev label budget N:M as for stage 7 (the data dir spk_dev_N_M).
semisup_subset="250:6019"
num_units=64              # k-means units of log-mel frames (data.content: units), learnt in
                          # stage 3 when there are reconstruction configs; 0: none
# Upstream models of the reconstruction configs' content inputs, trained once in stage 3 into
# $dumpdir/upstream (shared by every training seed, like the units) when a config needs them:
content_model_config=""   # a cross-modal config (method: cross_modal) whose frozen content
                          # head gives data.content content_embedding and content_units
num_content_units=64      # k-means units of those content embeddings (content_units)
recogniser_config=""      # the CTC phone recogniser (data.content phone_posteriors), trained
transcribed_set=""        # on this dumped set's transcripts (its text), e.g. spk_dev
train_seed=""             # overrides the configs' seed (e.g. one --expdir per seed)
ngpu=0                    # GPUs per node; >1: torchrun --nproc_per_node=$ngpu (DDP)
train_jobs=1              # CPU only: models trained at once (stage 3, the supervised baselines
                          # of stage 7), each on nproc/train_jobs threads
num_nodes=1               # >1: run stage 3 on every node (e.g. under srun), same options
rdzv_endpoint=""          # multi-node: host:port on the first node for torchrun's c10d rendezvous
rdzv_id=""                # multi-node: one id shared by the nodes of a run (default: Slurm job id)
ssl_eval_batches=200      # random batches averaged by stage 4
ssl_eval_batch_size=0     # B of stage 4's B-way identity task (0: the training batch, as the paper)
chance_check=true         # stage 4 fails if a trained loss stayed within its interval of chance
leakage_steps=200         # stage 4's post-hoc leakage probes: training steps (0: not run)
baselines="random_init mean_logmel"   # floors scored beside the models (stages 5-6)
random_init_config=conf/ssl_identity.yaml  # the architecture of the random_init floor
random_init_recon_config=""  # with --recon-configs: the x-vector of the random_init_xvector floor
n_boot=1000               # bootstrap replicates of the 95% intervals (stages 4 and 6)
extract_sets="ssl_train_sample spk_test"  # stage 5 (the sample: mean and AS-norm cohort);
                                          # stage 7 adds spk_dev for the models it fine-tunes
mean_tracks=5000          # ssl_train tracks sampled (seeded) for the scoring mean and cohort
trials="trials"           # trial lists in $datadir/spk_test to score (e.g. "trials_O trials_E trials_H")
asnorm_top_k=0            # >0: also AS-norm scores; cohort: the unlabelled ssl_train sample
finetune_tags="ssl_identity ssl_id_content_dis"   # SSL models fine-tuned in stage 7
# Table 4 label budgets of spk_dev: N speakers with all their utterances, N:M speakers and
# utterances (spread evenly; the paper's), or all. Seeded, nested (xmodal/data/subset.py).
finetune_subsets="100:1228 250:6019 500:12146 all"
finetune_config=conf/finetune.yaml
# Calibration (stage 9): spk_dev speakers that stage 1 holds out of everything that trains
# (data/spk_cal; the rest, data/spk_dev_no_cal, is what the Table 4 budgets and the supervised
# baselines draw on); 0: packs without calibration.
calibration_speakers=0
pack_p_target=0.05        # the prior the packs' calibration is trained at; their threshold's
supervised_config=conf/supervised.yaml
probe_tags="ssl_id_content ssl_id_content_dis"    # models probed for linguistic content
probe_config=conf/probe.yaml
channel_factors=""        # a corpus' per-utterance channel parameters (the synthetic corpus'
                          # factors.tsv): stage 8 probes how much channel each embedding carries
# Downstream tasks of stage 8: data dirs $datadir/downstream/<task>/{train,valid,test} with
# utt2label (stage 1's local/data.sh writes crema_d, ravdess, lrw; speaker_id is made here
# from spk_dev and spk_test's utt2iden_split), dumped by stage 2. With speaker_id, spk_dev's
# identification test utterances are left out of every set that trains a model on spk_dev
# labels (the Table 4 budgets, the supervised baseline, the semi-supervised labelled set).
downstream_tasks=""
downstream_eval=true      # false: prepare and dump the tasks (and exclude) but run none
downstream_config=conf/downstream.yaml          # the classifier on frozen features
downstream_ceiling_config=conf/downstream_ceiling.yaml  # trained end to end on log-mel
# Tasks whose features are standardised per speaker before the classifier: an emotion is a
# change from the speaker's own neutral (the emotion corpora have many utterances a speaker).
downstream_speaker_norm="crema_d ravdess"

. ./path.sh
. ./cmd.sh
. utils/parse_options.sh
budgets=$(echo $finetune_subsets | tr ':' '_')  # a budget N:M is the data dir spk_dev_N_M
downstream_sets=""
for t in $downstream_tasks; do
  downstream_sets="$downstream_sets downstream/$t/train downstream/$t/valid downstream/$t/test"
done
# What trains on spk_dev's labels: spk_dev without the calibration speakers, and without its
# identification test utterances when the speaker-id task tests on them.
labelled_base=$datadir/spk_dev
if [ "$calibration_speakers" -gt 0 ]; then
  labelled_base=$datadir/spk_dev_no_cal; sets="$sets spk_cal"
fi
labelled_src=$labelled_base
[[ " $downstream_tasks " == *" speaker_id "* ]] && labelled_src=${labelled_base}_no_iden_test
# The reconstruction models' own architecture untrained: a floor beside the others.
[ -n "$recon_configs" ] && [ -n "$random_init_recon_config" ] && baselines="$baselines random_init_xvector"

# Small CPU models use two cores badly (1.4x the throughput when two models train side by side
# on one thread each, bench/parallel_training.py): with --train-jobs J, stages 3 and 7 run
# up to J of their trainings at once, each pinned to nproc/J threads, so a run stays
# reproducible on one machine. bg CMD... starts one; bg_wait STAGE waits for all and stops the
# recipe if any failed (its log says why). Stage 8's jobs run on one thread each, so it runs
# as many at once as there are cores, whatever J is (single_thread_jobs).
if [ "$train_jobs" -gt 1 ] && [ "$ngpu" -gt 0 ]; then
  log "--train-jobs $train_jobs is for CPU training; with --ngpu $ngpu train one model at a time"
  exit 1
fi
threads=$(( $(nproc) / train_jobs )); [ "$threads" -ge 1 ] || threads=1
bg_max=$train_jobs; bg_threads=$threads
single_thread_jobs() { bg_max=$(nproc); bg_threads=1; }
bg_running=0; bg_failed=0
bg_reap() { wait -n || bg_failed=$(( bg_failed + 1 )); bg_running=$(( bg_running - 1 )); }
bg() {
  if [ "$bg_max" -le 1 ]; then "$@"; return; fi
  [ "$bg_running" -lt "$bg_max" ] || bg_reap
  OMP_NUM_THREADS=$bg_threads "$@" &
  bg_running=$(( bg_running + 1 ))
}
bg_wait() {
  while [ "$bg_running" -gt 0 ]; do bg_reap; done
  if [ "$bg_failed" -gt 0 ]; then log "$1: $bg_failed job(s) failed (their logs say why)"; exit 1; fi
}

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  log "stage 1: data preparation"
  local/data.sh $local_data_opts
  if [ "$calibration_speakers" -gt 0 ]; then
    python -m xmodal.bin.hold_out_speakers --num-spk $calibration_speakers --seed 0 \
      $datadir/spk_dev $labelled_base $datadir/spk_cal
  fi
  if [ "$labelled_src" != "$labelled_base" ]; then
    python -m xmodal.bin.prepare_downstream speaker_id --data-dir $datadir/spk_dev \
      --data-dir $datadir/spk_test --out-dir $datadir/downstream/speaker_id
    python -m xmodal.bin.prepare_downstream exclude_iden_test --data-dir $labelled_base \
      --out-dir $labelled_src
  fi
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  log "stage 2: dump audio features and face frames"
  # Job J dumps part J of every set: one process per set and part would spend more time
  # importing torch (about 3 s) than dumping the small sets.
  todo_data=""; todo_parts=""; todo_dump=""
  for x in $sets $downstream_sets; do
    if [ -f "$dumpdir/$x/.done" ]; then
      log "  $dumpdir/$x is complete; skipping"
      continue
    fi
    utils/split_data.sh $datadir/$x $nj
    todo_data="$todo_data $datadir/$x"; todo_parts="$todo_parts $datadir/$x/split$nj/JOB"
    todo_dump="$todo_dump $dumpdir/$x"
  done
  if [ -n "$todo_dump" ]; then
    log "  dumping$todo_dump (logs: $dumpdir/log/dump.*.log)"
    $dump_cmd JOB=1:$nj $dumpdir/log/dump.JOB.log \
      python -m xmodal.bin.dump --config $dump_config --data-dir $todo_parts \
        --out-dir $todo_dump --job JOB
    python -m xmodal.bin.merge_dump --data-dir $todo_data --out-dir $todo_dump --num-jobs $nj \
      --job-log $dumpdir/log/dump.JOB.log
  fi
fi
# data.batch_size is the global batch: the same config trains the same model on 1 process,
# $ngpu GPUs or $num_nodes nodes. --standalone picks a free port, so two single-node runs on
# one machine do not collide; across nodes the rendezvous id names the run.
if [ "$num_nodes" -gt 1 ]; then
  [ -n "$rdzv_endpoint" ] || { log "--num_nodes $num_nodes needs --rdzv_endpoint host:port"; exit 1; }
  rdzv_id=${rdzv_id:-${SLURM_JOB_ID:-}}
  [ -n "$rdzv_id" ] || { log "--num_nodes $num_nodes needs --rdzv_id (or a Slurm job)"; exit 1; }
  # One rendezvous per config: stage 3 trains them one after another.
  train_py="torchrun --nnodes=$num_nodes --nproc_per_node=$(( ngpu > 1 ? ngpu : 1 ))"
  train_py="$train_py --rdzv_backend=c10d --rdzv_endpoint=$rdzv_endpoint --rdzv_id=$rdzv_id-TAG"
  train_py="$train_py -m xmodal.bin.train"
elif [ "$ngpu" -gt 1 ]; then
  train_py="torchrun --standalone --nproc_per_node=$ngpu -m xmodal.bin.train"
else
  train_py="python -m xmodal.bin.train"
fi
device=cpu; [ "$ngpu" -gt 0 ] && device=cuda

# recon_contents: the content inputs (data.content) of the reconstruction configs.
recon_contents() {
  python -m xmodal.bin.config_value --key data.content $recon_configs | sort -u | tr '\n' ' '
}

# subset BUDGET: the spk_dev data dir of a label budget N, N:M or all (seeded, nested).
subset() {
  local n=${1/:/_} utt_opt=""
  [ -f $datadir/spk_dev_$n/utt2spk ] && return 0
  [ "${n#*_}" != "$n" ] && utt_opt="--num-utt ${n#*_}"
  utils/subset_data_dir.sh --num-spk ${n%%_*} $utt_opt --seed 0 $labelled_src $datadir/spk_dev_$n
}

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  log "stage 3: self-supervised training ($ssl_configs $recon_configs $facegen_configs)"
  if [ -n "$recon_configs" ]; then
    subset $semisup_subset
    # Units without labels, a property of the data (not of a training seed): one set, shared.
    [ "$num_units" -gt 0 ] && python -m xmodal.bin.learn_units --train-dir $dumpdir/ssl_train \
      --num-units $num_units --out $dumpdir/units/kmeans.npy \
      --apply-to "$dumpdir/ssl_train $dumpdir/ssl_test"
    contents=$(recon_contents)
    if [[ " $contents " =~ " phone_posteriors " ]]; then
      [ -n "$recogniser_config" ] && [ -n "$transcribed_set" ] || \
        { log "a config uses data.content phone_posteriors: give --recogniser-config and --transcribed-set"; exit 1; }
      log "  CTC phone recogniser on $dumpdir/$transcribed_set's transcripts"
      # Held-out phone error rate on ssl_test's speakers when it has transcripts (VoxCeleb does
      # not: then per.json has the training set's only).
      valid=""; [ -f $dumpdir/ssl_test/text ] && valid="--valid-dir $dumpdir/ssl_test"
      [ -f $dumpdir/upstream/phone_recogniser/final.pt ] || \
        python -m xmodal.bin.train_phone_recogniser --train-dir $dumpdir/$transcribed_set \
          $valid --config $recogniser_config --out-dir $dumpdir/upstream/phone_recogniser
      for x in ssl_train ssl_test; do
        python -m xmodal.bin.phone_posteriors --model-dir $dumpdir/upstream/phone_recogniser \
          --dump-dir $dumpdir/$x
      done
    fi
    if [[ " $contents " =~ " content_embedding " ]] || [[ " $contents " =~ " content_units " ]]; then
      [ -n "$content_model_config" ] || \
        { log "a config uses a cross-modal content input: give --content-model-config"; exit 1; }
      content_model=$dumpdir/upstream/content_model
      if [ ! -f $content_model/model.pt ]; then
        log "  content model $content_model_config (log: $content_model/train.log)"
        ls $content_model/epoch*.pt >/dev/null 2>&1 && resume="--resume" || resume=""
        $train_cmd $content_model/train.log ${train_py/-TAG/-content_model} \
          --config $content_model_config --device $device --train-dir $dumpdir/ssl_train \
          --valid-dir $dumpdir/ssl_test --output-dir $content_model $resume
      fi
      python -m xmodal.bin.dump_content_embeddings --exp-dir $content_model \
        --dump-dirs "$dumpdir/ssl_train $dumpdir/ssl_test"
      python -m xmodal.bin.learn_units --features content_emb --train-dir $dumpdir/ssl_train \
        --num-units $num_content_units --out $dumpdir/upstream/content_units/kmeans.npy \
        --apply-to "$dumpdir/ssl_train $dumpdir/ssl_test"
    fi
  fi
  train_ssl() {
    local conf=$1 tag resume="" train_log start
    tag=$(basename "$conf" .yaml)
    ls "$expdir/$tag"/epoch*.pt >/dev/null 2>&1 && resume="--resume"
    # Every node runs this stage: one log per node on a shared exp dir.
    train_log=$expdir/$tag/train.log
    [ "$num_nodes" -gt 1 ] && train_log=$expdir/$tag/train.node${SLURM_NODEID:-$(hostname -s)}.log
    log "  training $tag (log: $train_log)"
    start=$(date +%s)
    $train_cmd "$train_log" ${train_py/-TAG/-$tag} --config "$conf" --device $device \
      --train-dir "$dumpdir/ssl_train" --valid-dir "$dumpdir/ssl_test" --output-dir "$expdir/$tag" \
      --labelled-dir "$dumpdir/spk_dev" --utt2spk "$datadir/spk_dev_${semisup_subset/:/_}/utt2spk" \
      $resume ${train_seed:+--seed $train_seed}
    log "  $tag trained in $(( $(date +%s) - start )) s"
  }
  # Longest first (face generation trains longest at both sizes), so that with --train-jobs 2
  # the shorter configs fill the other slot rather than one long job ending alone.
  for conf in $facegen_configs $ssl_configs $recon_configs; do
    if [ -f "$expdir/$(basename "$conf" .yaml)/model.pt" ]; then
      log "  $expdir/$(basename "$conf" .yaml) is trained; skipping"
      continue
    fi
    bg train_ssl "$conf"
  done
  bg_wait "stage 3"
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  log "stage 4: self-supervised task evaluation on ssl_test"
  for conf in $ssl_configs; do
    tag=$(basename "$conf" .yaml)
    [ -f "$expdir/$tag/ssl_eval.json" ] && { log "  $tag evaluated; skipping"; continue; }
    check=""; $chance_check || check="--no-chance-check"
    leak=""; [ "$leakage_steps" -gt 0 ] && \
      leak="--leakage-train-dir $dumpdir/ssl_train --leakage-steps $leakage_steps"
    rc=0
    python -m xmodal.bin.eval_ssl --exp-dir "$expdir/$tag" --data-dir "$dumpdir/ssl_test" \
      --batches $ssl_eval_batches --batch-size $ssl_eval_batch_size --n-boot $n_boot $check \
      --device $device $leak || rc=$?
    if [ $rc -ne 0 ]; then
      rm -f "$expdir/$tag/ssl_eval.json"  # a rerun evaluates it again
      [ $rc -eq 2 ] && log "stage 4: $conf did not learn what it trains (above); stopping"
      exit 1
    fi
  done
  for conf in $facegen_configs; do
    tag=$(basename "$conf" .yaml)
    [ -f "$expdir/$tag/generation_eval.json" ] && { log "  $tag evaluated; skipping"; continue; }
    check=""; $chance_check || check="--no-check"
    rc=0
    python -m xmodal.bin.eval_generation --exp-dir "$expdir/$tag" --data-dir "$dumpdir/ssl_test" \
      --n-boot $n_boot --device $device $check || rc=$?
    if [ $rc -ne 0 ]; then
      rm -f "$expdir/$tag/generation_eval.json"
      [ $rc -eq 2 ] && log "stage 4: $conf's generator does not use the audio (above); stopping"
      exit 1
    fi
  done
fi
tags=""; for conf in $ssl_configs; do tags="$tags $(basename "$conf" .yaml)"; done
recon_tags=""; for conf in $recon_configs; do recon_tags="$recon_tags $(basename "$conf" .yaml)"; done
facegen_tags=""; for conf in $facegen_configs; do facegen_tags="$facegen_tags $(basename "$conf" .yaml)"; done
# result_tags: after stage 7, the models of stages 8-9: downstream_tags, the frozen encoders of
# the downstream tasks (the floors but mean log-mel, which has its own run), and pack_tags,
# every trained encoder (with the supervised baseline of the largest budget, if trained).
result_tags() {
  local last="" b
  [ -n "$budgets" ] && [ -f $expdir/supervised_spk_dev_${budgets##* }/model.pt ] && \
    last=supervised_spk_dev_${budgets##* }
  downstream_tags=""
  if [ -n "$downstream_tasks" ] && $downstream_eval; then
    downstream_tags="$tags $recon_tags $facegen_tags $last"
    for b in $baselines; do [ "$b" = mean_logmel ] || downstream_tags="$downstream_tags $b"; done
  fi
  pack_tags="$tags $recon_tags $facegen_tags $last"
}

# extract NAME "EXP..." "SET...": stage-5 embeddings of the sets by every model, in nj jobs
# that each load every model once and embed their part of every set (a process that imports
# torch takes seconds to start: one per model and set would be most of the stage), then one
# merge that checks each set's completeness. A model is an experiment, or for EXP named
# mean_logmel the mean log-mel vector. Logs: $expdir/log/NAME.JOB.log.
extract() {
  local name=$1 exp x models="" args="" merges="" todo
  for exp in $2; do
    todo=false
    for x in $3; do
      [ -f "$exp/emb/$x/.done" ] && continue
      todo=true; merges="$merges --out-dir $exp/emb/$x --data-dir $dumpdir/$x"
    done
    $todo || continue
    if [ "$(basename $exp)" = mean_logmel ]; then models="$models --mean-logmel $exp"
    else models="$models --exp-dir $exp"; fi
  done
  [ -n "$models" ] || return 0
  for x in $3; do
    # Split the dump dir, not $datadir: utterances that stage 2 skipped have no features.
    python -m xmodal.bin.split_data $dumpdir/$x $nj
    args="$args --feats-dir $dumpdir/$x --data-dir $dumpdir/$x/split$nj/JOB --out-dir {exp}/emb/$x"
  done
  $extract_cmd JOB=1:$nj $expdir/log/$name.JOB.log \
    python -m xmodal.bin.extract $models $args --device $device --job JOB
  python -m xmodal.bin.merge_embeddings --num-jobs $nj $merges
}

# score EMB_DIR OUT_DIR: every trial list scored by raw cosine (the paper's Table 3:
# OUT/<trials>.scores), after subtracting the ssl_train sample's mean (<trials>.meansub.scores)
# and, with --asnorm-top-k, AS-normalised against that unlabelled sample
# (<trials>.asnorm.scores); metrics with 95% intervals from a bootstrap over speakers.
score() {
  local emb=$1 out=$2 t kind name opts sample=$1/ssl_train_sample/identity.scp
  mkdir -p $out
  for t in $trials; do
    for kind in raw meansub $([ "$asnorm_top_k" -gt 0 ] && echo asnorm); do
      name=$t; [ $kind = raw ] || name=$t.$kind
      [ -f "$out/$name.metrics.json" ] && continue
      case $kind in
        raw) opts="" ;;
        meansub) opts="--mean-scp $sample" ;;
        asnorm) opts="--mean-scp $sample --asnorm-cohort-scp $sample --asnorm-top-k $asnorm_top_k" ;;
      esac
      python -m xmodal.bin.score --trials $datadir/spk_test/$t \
        --enroll-scp $emb/spk_test/identity.scp $opts --out $out/$name.scores
      python -m xmodal.bin.compute_metrics $out/$name.scores --ci --n-boot $n_boot \
        --utt2spk $datadir/spk_test/utt2spk > $out/$name.metrics.json.tmp
      mv $out/$name.metrics.json.tmp $out/$name.metrics.json
    done
  done
}

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  log "stage 5: embeddings of $extract_sets ($tags $recon_tags $facegen_tags, floors: $baselines)"
  for b in $baselines; do
    [ -f $expdir/$b/model.pt ] && continue
    case $b in
      random_init) python -m xmodal.bin.init_model --config $random_init_config \
                     --output-dir $expdir/random_init ${train_seed:+--seed $train_seed} ;;
      random_init_xvector) python -m xmodal.bin.init_model --config $random_init_recon_config \
                     --output-dir $expdir/random_init_xvector ${train_seed:+--seed $train_seed} ;;
      mean_logmel) ;;
      *) log "unknown baseline '$b' (known: random_init random_init_xvector mean_logmel)"; exit 1 ;;
    esac
  done
  # At most $mean_tracks tracks of ssl_train, unlabelled (not 218k embeddings per model).
  if [ ! -f $dumpdir/ssl_train_sample/utt2spk ]; then
    n=$(wc -l < $dumpdir/ssl_train/utt2spk)
    utils/subset_data_dir.sh --num-spk all --num-utt $([ $n -gt $mean_tracks ] && echo $mean_tracks || echo all) \
      --seed 0 $dumpdir/ssl_train $dumpdir/ssl_train_sample
  fi
  models=""; for tag in $tags $recon_tags $facegen_tags $baselines; do models="$models $expdir/$tag"; done
  extract extract "$models" "$extract_sets"
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  log "stage 6: scoring $trials"
  for tag in $tags $recon_tags $facegen_tags $baselines; do
    score $expdir/$tag/emb $expdir/$tag/scores
    cat $expdir/$tag/scores/*.metrics.json
  done
fi

if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ]; then
  log "stage 7: limited-label fine-tuning (label budgets $finetune_subsets) and supervised baseline"
  for n in $budgets; do subset $n; done
  models=""; for tag in $finetune_tags; do models="$models $expdir/$tag"; done
  extract extract_spk_dev "$models" spk_dev
  for tag in $finetune_tags; do
    for n in $budgets; do
      ft=$expdir/$tag/finetune/spk_dev_$n
      if [ ! -f $ft/layer.pt ]; then
        python -m xmodal.bin.finetune_npair --config $finetune_config \
          --train-scp $expdir/$tag/emb/spk_dev/identity.scp --utt2spk $datadir/spk_dev_$n/utt2spk \
          --apply-scp $expdir/$tag/emb/spk_test/identity.scp \
          --apply-scp $expdir/$tag/emb/ssl_train_sample/identity.scp --out-dir $ft
      fi
      score $ft $ft/scores
    done
  done
  for n in $budgets; do
    sup=$expdir/supervised_spk_dev_$n
    if [ ! -f $sup/model.pt ]; then
      resume=""; ls $sup/epoch*.pt >/dev/null 2>&1 && resume="--resume"
      bg $train_cmd $sup/train.log python -m xmodal.bin.train --config $supervised_config \
        --device $device --train-dir $dumpdir/spk_dev --utt2spk $datadir/spk_dev_$n/utt2spk \
        --output-dir $sup $resume ${train_seed:+--seed $train_seed}
    fi
  done
  bg_wait "stage 7"
  models=""; for n in $budgets; do models="$models $expdir/supervised_spk_dev_$n"; done
  extract extract_supervised "$models" "ssl_train_sample spk_test"
  for n in $budgets; do score $expdir/supervised_spk_dev_$n/emb $expdir/supervised_spk_dev_$n/scores; done
fi

if [ "$stage" -le 8 ] && [ "$stop_stage" -ge 8 ]; then
  log "stage 8: content probe and downstream tasks"
  result_tags
  # The probe needs transcripts: the synthetic corpus has them, the VoxCeleb downloads do not.
  [ -f $dumpdir/ssl_train/text ] || { log "  no $dumpdir/ssl_train/text: content probe skipped"; probe_tags=""; }
  # The probes and the downstream tasks each run on one thread (their own default).
  single_thread_jobs
  for tag in $probe_tags; do
    [ -f $expdir/$tag/probe.json ] && continue
    bg python -m xmodal.bin.probe_content --exp-dir $expdir/$tag --train-dir $dumpdir/ssl_train \
      --test-dir $dumpdir/ssl_test --config $probe_config --out $expdir/$tag/probe.json \
      --spm-dir $expdir/probe_spm
  done
  if [ -n "$channel_factors" ]; then
    for tag in $tags $recon_tags $facegen_tags $baselines; do
      [ -f $expdir/$tag/channel_probe.json ] || python -m xmodal.bin.probe_channel \
        --emb-scp $expdir/$tag/emb/spk_test/identity.scp --factors $channel_factors \
        --out $expdir/$tag/channel_probe.json
    done
  fi
  # Downstream tasks: every frozen encoder (both heads), the floors and the ceiling, once each.
  if [ -n "$downstream_tags" ]; then
    task_opts="--task-root $dumpdir/downstream --tasks '$downstream_tasks' --n-boot $n_boot
      --speaker-norm-tasks '$downstream_speaker_norm'"
    # downstream_done DIR HEAD...: every task's result is there (a process costs seconds).
    downstream_done() {
      local dir=$1 task head; shift
      for task in $downstream_tasks; do
        for head in "$@"; do [ -f $dir/${task}_$head.json ] || return 1; done
      done
    }
    for tag in $downstream_tags; do
      downstream_done $expdir/$tag/downstream identity content && continue
      eval bg python -m xmodal.bin.downstream --exp-dir $expdir/$tag $task_opts \
        --config $downstream_config --out-dir $expdir/$tag/downstream
    done
    downstream_done $expdir/mean_logmel/downstream content || \
      eval bg python -m xmodal.bin.downstream --mean-logmel --heads content $task_opts \
        --config $downstream_config --out-dir $expdir/mean_logmel/downstream
    downstream_done $expdir/downstream_ceiling/downstream content || \
      eval bg python -m xmodal.bin.downstream --mean-logmel --heads content $task_opts \
        --config $downstream_ceiling_config --out-dir $expdir/downstream_ceiling/downstream
  fi
  # Speaker information in the reconstruction decoders' content inputs (held-out recordings).
  if [ -n "$recon_tags" ]; then
    for content in phones noisy units phone_posteriors content_embedding content_units; do
      case $content in
        phones|noisy) source=frame_phones ;; units) source=frame_units ;;
        phone_posteriors) source=phone_post.scp ;; content_embedding) source=content_emb.scp ;;
        content_units) source=frame_content_units ;;
      esac
      [ -f $dumpdir/ssl_test/$source ] && [ ! -f $expdir/content_input_$content.json ] || continue
      bg python -m xmodal.bin.probe_content_speaker --data-dir $dumpdir/ssl_test --content $content \
        --out $expdir/content_input_$content.json
    done
  fi
  bg_wait "stage 8"
fi

if [ "$stage" -le 9 ] && [ "$stop_stage" -ge 9 ]; then
  result_tags
  log "stage 9: packed models ($pack_tags; calibration on $calibration_speakers held-out speakers)"
  set -- $trials
  if [ "$calibration_speakers" -gt 0 ]; then
    models=""; for tag in $pack_tags; do models="$models $expdir/$tag"; done
    extract extract_spk_cal "$models" spk_cal
  fi
  single_thread_jobs
  for tag in $pack_tags; do
    [ -f $expdir/$tag/pack/pack.json ] && continue
    cal_opts=""
    [ "$calibration_speakers" -gt 0 ] && cal_opts="--cal-scp $expdir/$tag/emb/spk_cal/identity.scp
      --cal-utt2spk $datadir/spk_cal/utt2spk --p-target $pack_p_target
      --test-scores $expdir/$tag/scores/$1.meansub.scores --test-utt2spk $datadir/spk_test/utt2spk"
    case $tag in
      supervised_spk_dev_*) trained_on="$dumpdir/spk_dev, labels of $datadir/${tag#supervised_}" ;;
      *) trained_on="$dumpdir/ssl_train (and what its config.yaml adds)" ;;
    esac
    bg python -m xmodal.bin.make_pack --exp-dir $expdir/$tag --n-boot $n_boot \
      --trained-on "$trained_on" \
      --mean-scp $expdir/$tag/emb/ssl_train_sample/identity.scp $cal_opts \
      --stage6-metrics $expdir/$tag/scores/*.metrics.json
  done
  bg_wait "stage 9"
fi

if [ "$stage" -le 9 ] && [ "$stop_stage" -ge 8 ]; then
  result_tags
  python -m xmodal.bin.report --exp-dir $expdir --ssl-tags "$tags" --recon-tags "$recon_tags" \
    --facegen-tags "$facegen_tags" --trials "$trials" \
    --finetune-tags "$finetune_tags" --subsets "$budgets" --probe-tags "$probe_tags" \
    --baseline-tags "$baselines" --utt2spk $datadir/spk_test/utt2spk --n-boot $n_boot \
    --downstream-tags "$downstream_tags" --pack-tags "$pack_tags" \
    --downstream-tasks "$([ -n "$downstream_tags" ] && echo $downstream_tasks)"
fi
log "done (stages $stage-$stop_stage)"
