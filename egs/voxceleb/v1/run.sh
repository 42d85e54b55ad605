#!/usr/bin/env bash
# VoxCeleb recipe (paper scale): train on VoxCeleb2 face-tracks, evaluate on VoxCeleb1.
# Point --vox1-root/--vox2-root at the official downloads (README "VoxCeleb data preparation").
set -euo pipefail

vox1_root=/data/voxceleb1   # wav/, vox1_meta.csv, iden_split.txt, the trial lists
vox2_root=/data/voxceleb2   # {dev,test}/{mp4,aac,txt}, vox2_meta.csv
nj=16
ngpu=1
num_nodes=1                 # >1: stage 3 on every node (e.g. under srun), c10d rendezvous
rdzv_endpoint=""            # host:port on the first node, with --num-nodes > 1
cmd=local                   # job backend in cmd.sh: local or slurm
audio=pipe                  # VoxCeleb2 wav.scp: pipe (ffmpeg ... |), path (m4a) or wav (copies)
dev_fraction=0.2            # share of each VoxCeleb2 dev speaker's face-tracks trained on (paper)
test_speakers=120           # VoxCeleb2 test speakers of the self-supervised evaluation (paper)
trials="O"                  # VoxCeleb1 lists scored: O (veri_test2), E, H, O_orig (veri_test)
stage=1
stop_stage=9
ssl_configs="conf/ssl_content.yaml conf/ssl_identity.yaml conf/ssl_id_content.yaml conf/ssl_id_content_dis.yaml"
# Stafylakis et al. 2019 (reconstruction): needs per-frame phones, which VoxCeleb lacks:
# --phones-ctm from your aligner (README), e.g. "conf/recon_phones.yaml conf/recon_none.yaml".
recon_configs=""
phones_ctm=""               # a phone CTM of the VoxCeleb utterances: stage 1 writes frame_phones
# Content inputs without an aligner: conf/recon_units.yaml (no labels at all),
# conf/recon_content_embedding.yaml and conf/recon_content_units.yaml (a cross-modal model's
# frozen content head, --content-model-config), conf/recon_posteriors.yaml (the CTC phone
# recogniser, trained on --transcribed-data: a Kaldi data dir with text, e.g. LibriSpeech's).
transcribed_data=""
recogniser_config=conf/phone_recogniser.yaml
content_model_config=conf/ssl_id_content_dis.yaml
semisup_subset="250:6019"   # spk_dev budget of the semi-supervised reconstruction configs
# Shukla et al. 2020 (face generation), e.g. "conf/facegen_shukla.yaml
# conf/facegen_shukla_outside.yaml": their raw-waveform encoder reads the dump's wave.scp,
# so dump with conf/dump_waveform.yaml (--dump-config) when giving them.
facegen_configs=""
dump_config=conf/dump.yaml
finetune_config=conf/finetune.yaml
supervised_config=conf/supervised.yaml
probe_config=conf/probe.yaml
finetune_subsets="100:1228 250:6019 500:12146 all"  # Table 4 label budgets: speakers:utterances
finetune_tags="ssl_identity ssl_id_content_dis"
# VoxCeleb1 dev speakers held out of every training set to calibrate the packs' scores
# (stage 9; data/spk_cal); the Table 4 budgets draw on the other 1,111. 0: no calibration.
calibration_speakers=100
probe_tags="ssl_id_content ssl_id_content_dis"
ssl_eval_batches=200
leakage_steps=1000          # stage 4's post-hoc leakage probes (0: not run)
asnorm_top_k=0              # >0: also AS-norm scores (extra Table 3 column), cohort: ssl_train tracks
chance_check=true           # stage 4 fails when a trained loss stayed within its interval of chance
train_jobs=1                # with --ngpu 0: models trained at once, nproc/train_jobs threads each
# Downstream tasks (stage 8, README "Downstream tasks"): the unpacked downloads, each optional.
crema_root=""               # CREMA-D: holds AudioWAV/ (github.com/CheyneyComputerScience/CREMA-D, git-lfs)
ravdess_root=""             # RAVDESS: holds Actor_01/ .. Actor_24/ (Audio_Speech_Actors_01-24.zip)
lrw_root=""                 # LRW: holds lipread_mp4/ (BBC licence)
speaker_id=true             # VoxCeleb1 identification (iden_split.txt) as a downstream task
downstream_config=conf/downstream.yaml
downstream_ceiling_config=conf/downstream_ceiling.yaml

. utils/parse_options.sh

# cmd.sh, sourced by xmodal.sh, picks its launchers from these.
export cmd_backend=$cmd cmd_ngpu=$ngpu
trial_files=""
for t in $trials; do trial_files="$trial_files trials_$t"; done
# local/data.sh gets its options through word splitting: the trial sets go comma-separated.
trial_sets=$(echo $trials | tr ' ' ',')
sets="ssl_train ssl_test spk_dev spk_test"
downstream_tasks=""
[ -n "$crema_root" ] && downstream_tasks="$downstream_tasks crema_d"
[ -n "$ravdess_root" ] && downstream_tasks="$downstream_tasks ravdess"
[ -n "$lrw_root" ] && downstream_tasks="$downstream_tasks lrw"
$speaker_id && downstream_tasks="$downstream_tasks speaker_id"
recogniser_opts=""
if [ -n "$transcribed_data" ]; then
  sets="$sets transcribed"
  recogniser_opts="--recogniser-config $recogniser_config --transcribed-set transcribed"
fi

./xmodal.sh \
  --stage $stage --stop-stage $stop_stage \
  --nj $nj --ngpu $ngpu --train-jobs $train_jobs --num_nodes $num_nodes --rdzv_endpoint "$rdzv_endpoint" \
  --local-data-opts "--vox1-root $vox1_root --vox2-root $vox2_root --audio $audio --nj $nj
    --dev-fraction $dev_fraction --test-speakers $test_speakers --trials $trial_sets
    ${phones_ctm:+--phones-ctm $phones_ctm} ${transcribed_data:+--transcribed-data $transcribed_data}
    ${crema_root:+--crema-root $crema_root} ${ravdess_root:+--ravdess-root $ravdess_root}
    ${lrw_root:+--lrw-root $lrw_root}" \
  --sets "$sets" --trials "${trial_files# }" $recogniser_opts \
  --content-model-config $content_model_config \
  --dump-config $dump_config \
  --ssl-configs "$ssl_configs" --recon-configs "$recon_configs" --semisup-subset "$semisup_subset" \
  --facegen-configs "$facegen_configs" \
  --random-init-recon-config conf/recon_phones.yaml \
  --finetune-config $finetune_config --supervised-config $supervised_config \
  --probe-config $probe_config --calibration-speakers $calibration_speakers \
  --finetune-subsets "$finetune_subsets" --finetune-tags "$finetune_tags" \
  --probe-tags "$probe_tags" --ssl-eval-batches $ssl_eval_batches --asnorm-top-k $asnorm_top_k \
  --leakage-steps $leakage_steps \
  --chance-check $chance_check \
  --downstream-tasks "${downstream_tasks# }" --downstream-config $downstream_config \
  --downstream-ceiling-config $downstream_ceiling_config
