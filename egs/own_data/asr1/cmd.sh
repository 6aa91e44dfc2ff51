# shellcheck shell=bash
# Where this recipe's parallel jobs run (docs/cluster.md): egs/TEMPLATE/asr1/asr.sh sources ./cmd.sh of the
# directory it runs in, so run.sh's steps pick it up.
# Here: stage 2 (features) and stage 6 (decoding: every row of the model_rows hook) of run.sh.
#   cmd_backend=local   processes on this machine (the default)
#   cmd_backend=slurm   one Slurm array (sbatch --array --wait) per step; set it below, or for one run:
#                       cmd_backend=slurm ./run.sh ...
# The launchers follow the egs2 convention, ${decode_cmd} [options] JOB=1:N LOG command... (utils/launch.py --help).
# asr.sh adds --cpus (stage 6: --inference_threads; stage 2: --nj) and --gpus (--inference_ngpu) to each call.
cmd_backend=${cmd_backend:-local}
cmd_launcher="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../TEMPLATE/asr1" && pwd)/utils/launch.py"
train_cmd="${cmd_launcher} --backend ${cmd_backend}"    # CPU jobs: stage 2 features when not local
decode_cmd="${cmd_launcher} --backend ${cmd_backend}"   # stage 6 decoding; local: --max_jobs N caps the jobs at once
if [ "${cmd_backend}" = slurm ]; then
    # Edit for your site: nothing is requested that is not written here (the rest is the cluster's default).
    # Options: --partition --time --mem --account --qos --max_jobs, any other as --sbatch_opt "--constraint=avx2".
    # train_cmd+=" --partition cpu --time 1:00:00 --mem 4G --account myproject"
    # decode_cmd+=" --partition cpu --time 4:00:00 --mem 8G --account myproject"
    :
fi
export cmd_backend train_cmd decode_cmd
