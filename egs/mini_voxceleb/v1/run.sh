#!/usr/bin/env bash
# Mini recipe: the whole method on the synthetic talking-heads corpus, CPU only.
#   --preset demo    `make demo`: every stage, on a small corpus, in minutes; it shows each
#                    trained loss leaving chance, no more. Writes corpus/ data/ dump/ exp/.
#   --preset full    the mini recipe at full size (`make reproduce` trains it with 3 seeds):
#                    the evidence the README quotes. Writes under full/.
#   --preset sweep   demo-size corpus and identity-only training, for the coupling study
#                    (local/coupling_sweep.sh, with --root and --coupling).
set -euo pipefail

preset=demo
stage=1
stop_stage=9
nj=2
train_seed=""       # override the configs' seed (reproduce.sh trains seeds 0 1 2)
root=""             # where corpus/, data/, dump/ and exp/ go (default: the preset's)
expdir=""           # default: $root/exp
coupling=1.0        # how strongly faces and voices share identity traits (corpus; 0-1)
corpus_seed=0
ssl_configs="-"     # default (-): the preset's cross-modal configs (Nagrani et al.); "" for none
recon_configs="-"   # default (-): the preset's reconstruction configs (Stafylakis et al.); "" for none
facegen_configs="-" # default (-): the preset's face-generation configs (Shukla et al.); "" for none
finetune_subsets="" # default: the preset's label budgets, speakers:utterances of spk_dev (stage 7)
probe_tags="-"      # default (-): the preset's content-probe models (stage 8); "" for none
finetune_tags="-"   # default (-): the preset's models fine-tuned in stage 7 (Table 4); "" for none
chance_check=true   # stage 4 fails when a trained loss stayed within its interval of chance
train_jobs=""       # models trained at once, on nproc/train_jobs threads each (default: the preset's)
asnorm_top_k=300    # AS-norm scores too (an extra Table 3 column); cohort: the ssl_train tracks
ssl_eval_batch_size=16  # B of stage 4's identity task (0: the training B, as the paper)
leakage_steps=""    # stage 4's post-hoc leakage probes, training steps (default: the preset's; 0: none)
downstream=true       # the downstream tasks' data (synthetic CREMA-D, RAVDESS, LRW; VoxCeleb1
                      # identification) in stages 1-2 and their evaluation; false: none of it
downstream_eval=true  # stage 8 runs the downstream tasks (emotion, words, speaker id)
calibration_speakers=""  # spk_dev speakers held out to calibrate the packs (stage 9; default:
                         # the preset's; 0: none). Stage 1 splits them off: set it before.

. utils/parse_options.sh

# Corpus sizes: training identities have one face-track each (more identities, not more
# tracks, is what the cross-modal identity task generalises from); held-out identities two
# tracks from two videos; the speaker sets are audio only, spk_videos x spk_utts each.
case $preset in
  demo)
    default_root=.
    recogniser_opts=""
    conf=conf/demo
    # Three videos per speaker set: VoxCeleb1's identification split needs a training, a
    # validation and a test video of each speaker.
    # spk_dev: 40 speakers that train (Table 4, the supervised baseline) and 10 that only
    # calibrate the packs (stage 9; 12 target and 282 non-target pairs each).
    data_opts="--ssl-train-speakers 600 --ssl-test-speakers 100 --ssl-test-videos 2
      --spk-dev-speakers 50 --spk-test-speakers 100 --spk-videos 3 --spk-utts 2
      --min-words 4 --max-words 7"
    default_calibration_speakers=10
    # Small corpora that exercise every task (the demo's downstream table is a run of the
    # stage, not evidence: make reproduce has the full-size one). CREMA-D: many actors with
    # few utterances each, so its test split has the 5 speakers a paired mark needs; RAVDESS'
    # test split has a sixth of its at most 24 actors, never 5, so it stays small.
    downstream_opts="--crema-actors 25 --crema-utts-per-actor 4 --ravdess-actors 12
      --ravdess-utts-per-actor 4 --lrw-train-speakers 6 --lrw-val-speakers 2
      --lrw-test-speakers 3 --lrw-train-clips 2 --lrw-val-clips 1 --lrw-test-clips 1"
    # Two of the four ablations, which train every loss (content; content + identity +
    # confusion); make reproduce trains all four.
    default_configs="$conf/ssl_content.yaml $conf/ssl_id_content_dis.yaml"
    # Stafylakis et al.: phones, its no-content ablation, and phones + classification.
    default_recon_configs="$conf/recon_phones.yaml $conf/recon_none.yaml $conf/recon_phones_classify.yaml"
    # Shukla et al.: the lower face generated from the audio and a still frame.
    default_facegen_configs="$conf/facegen.yaml"
    semisup_subset="20:40"
    ssl_eval_batches=50
    default_leakage_steps=100
    # The limited-label case, 2 utterances per speaker; "all" would cost a second supervised model.
    default_subsets="20:40"
    # Stage 7 and 8 models of each paper (a paper whose configs are "" has none).
    finetune_nagrani="ssl_id_content_dis"; finetune_recon="recon_phones"; finetune_shukla="facegen"
    probe_nagrani="ssl_id_content_dis"; probe_recon=""
    # Six configs, one long (content + identity + confusion, about 2 min on two threads):
    # two at a time on one thread each, the other four train beside the long one.
    default_train_jobs=2
    ;;
  full)
    default_root=full
    conf=conf
    # spk_dev: 200 speakers that train and 40 that calibrate the packs.
    data_opts="--ssl-train-speakers 1200 --ssl-test-speakers 100 --ssl-test-videos 2
      --spk-dev-speakers 240 --spk-test-speakers 120 --spk-videos 4 --spk-utts 2"
    default_calibration_speakers=40
    downstream_opts="--crema-actors 48 --crema-utts-per-actor 24 --ravdess-actors 24
      --ravdess-utts-per-actor 24 --lrw-train-speakers 24 --lrw-val-speakers 6
      --lrw-test-speakers 6 --lrw-train-clips 6 --lrw-val-clips 1 --lrw-test-clips 2"
    default_configs="$conf/ssl_content.yaml $conf/ssl_identity.yaml $conf/ssl_id_content.yaml
      $conf/ssl_id_content_dis.yaml"
    # Stafylakis et al.: every content input, classification with and without reconstruction
    # on ssl_train's labels, and the semi-supervised pair on the spk_dev budget below.
    default_recon_configs="$conf/recon_phones.yaml $conf/recon_noisy.yaml $conf/recon_posteriors.yaml
      $conf/recon_units.yaml $conf/recon_content_embedding.yaml $conf/recon_content_units.yaml
      $conf/recon_none.yaml $conf/recon_phones_classify.yaml $conf/xvector_classify.yaml
      $conf/recon_phones_semisup.yaml $conf/xvector_semisup.yaml"
    # Shukla et al.: the still frame from outside the generated window (ours) and from the
    # window (the paper's).
    default_facegen_configs="$conf/facegen.yaml $conf/facegen_same_window.yaml"
    # Their upstream models: a CTC phone recogniser on spk_dev's transcripts (speakers
    # disjoint from ssl_train's, as a recogniser's training corpus would be), and the
    # disentangled cross-modal model whose frozen content head tells the decoder what is said.
    recogniser_opts="--recogniser-config $conf/phone_recogniser.yaml --transcribed-set spk_dev
      --content-model-config $conf/ssl_id_content_dis.yaml"
    semisup_subset="41:82"
    ssl_eval_batches=200
    default_leakage_steps=200
    # The paper's budgets scaled to 200 spk_dev speakers of 8 utterances: 100, 250 and 500
    # of VoxCeleb1's 1,211 speakers, 10-20% of their utterances (here 2 each, the least
    # n-pair training needs), and all.
    default_subsets="17:34 41:82 83:166 all"
    finetune_nagrani="ssl_identity ssl_id_content_dis"; finetune_recon="recon_phones"
    finetune_shukla="facegen"
    probe_nagrani="ssl_id_content ssl_id_content_dis"; probe_recon="recon_phones"
    # Four configs in two pairs of similar length (content, identity; content + identity,
    # + dis), two supervised baselines and two probes at a time: 1.42x the throughput.
    default_train_jobs=2
    ;;
  sweep)
    default_root=sweep
    recogniser_opts=""
    conf=conf/demo
    data_opts="--ssl-train-speakers 600 --ssl-test-speakers 60 --ssl-test-videos 2
      --spk-dev-speakers 2 --spk-test-speakers 60 --spk-videos 2 --spk-utts 2
      --min-words 4 --max-words 7"
    default_calibration_speakers=0
    default_configs="$conf/ssl_identity.yaml"
    default_recon_configs=""
    default_facegen_configs=""
    downstream_opts=""
    semisup_subset="2:4"
    ssl_eval_batches=100
    default_leakage_steps=0
    default_subsets=""
    finetune_nagrani=""; finetune_recon=""; finetune_shukla=""
    probe_nagrani=""; probe_recon=""
    default_train_jobs=1
    ;;
  *) echo "$0: unknown --preset '$preset' (demo, full or sweep)" >&2; exit 1 ;;
esac
[ -n "$root" ] || root=$default_root
[ -n "$expdir" ] || expdir=$root/exp
[ "$ssl_configs" != "-" ] || ssl_configs=$default_configs
[ "$recon_configs" != "-" ] || recon_configs=$default_recon_configs
[ "$facegen_configs" != "-" ] || facegen_configs=$default_facegen_configs
[ -n "$finetune_subsets" ] || finetune_subsets=$default_subsets
[ -n "$ssl_configs" ] || { finetune_nagrani=""; probe_nagrani=""; }
[ -n "$recon_configs" ] || { finetune_recon=""; probe_recon=""; }
[ -n "$facegen_configs" ] || finetune_shukla=""
[ "$finetune_tags" != "-" ] || finetune_tags="$finetune_nagrani $finetune_recon $finetune_shukla"
[ "$probe_tags" != "-" ] || probe_tags="$probe_nagrani $probe_recon"
[ -n "$train_jobs" ] || train_jobs=$default_train_jobs
[ -n "$calibration_speakers" ] || calibration_speakers=$default_calibration_speakers
$downstream || downstream_opts=""
downstream_tasks=""
[ -n "$downstream_opts" ] && downstream_tasks="crema_d ravdess lrw speaker_id"
[ -n "$leakage_steps" ] || leakage_steps=$default_leakage_steps

./xmodal.sh \
  --stage $stage --stop-stage $stop_stage \
  --nj $nj --train-jobs $train_jobs \
  --local-data-opts "--corpus $root/corpus --data $root/data --nj $nj --seed $corpus_seed
    --coupling $coupling $data_opts ${downstream_opts:+--downstream-opts $(echo $downstream_opts | tr ' ' ',')}" \
  --datadir $root/data --dumpdir $root/dump --expdir $expdir \
  --dump-config $conf/dump.yaml \
  --ssl-configs "$ssl_configs" --recon-configs "$recon_configs" --facegen-configs "$facegen_configs" \
  --semisup-subset "$semisup_subset" \
  --train-seed "$train_seed" \
  --random-init-config $conf/ssl_identity.yaml --random-init-recon-config $conf/recon_phones.yaml \
  $recogniser_opts \
  --ssl-eval-batches $ssl_eval_batches --ssl-eval-batch-size $ssl_eval_batch_size --chance-check $chance_check \
  --asnorm-top-k $asnorm_top_k --leakage-steps $leakage_steps \
  --finetune-config $conf/finetune.yaml --supervised-config $conf/supervised.yaml \
  --probe-config $conf/probe.yaml --calibration-speakers $calibration_speakers \
  --finetune-subsets "$finetune_subsets" --finetune-tags "$finetune_tags" \
  --probe-tags "$probe_tags" --channel-factors $root/corpus/annotations/factors.tsv \
  --downstream-tasks "$downstream_tasks" --downstream-eval $downstream_eval \
  --downstream-config $conf/downstream.yaml \
  --downstream-ceiling-config $conf/downstream_ceiling.yaml
