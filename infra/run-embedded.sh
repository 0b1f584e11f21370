#!/usr/bin/env bash
# Run the web server and a Celery worker together on the embedded default (no services).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
export MLFLOW_DISABLE_TELEMETRY=true
# the settings turn DEBUG on only when this is a loopback address (or DJANGO_DEBUG is set)
export CHIPLAB_BIND_HOST="$HOST"

# Three workers of one process each, as on a lab server (infra/compose.yaml): "interactive"
# takes the jobs a user waits for and the embedding prefetches (gpu queue), in one process whose
# memory keeps an image's frames, spectrum and pixel features warm from the prefetch on;
# "background" takes ingests, the jobs' downloads and chip-size checks (default queue), which
# give way to a map a user waits for (common/priority.py); "training" takes fine-tuning (hours).
# A re-run after a support-set edit then never waits for a process, nor runs on one that has not
# seen the image (chiplab_bench_segment --after shown).
# Each worker is started again whenever it exits (killed, out of memory); when it starts it
# enqueues again the jobs a dead worker had taken from the filesystem broker (workers/recovery.py).
# Each worker would cap its process at 80% of the machine's memory (CHIPLAB_WORKER_MAX_MEMORY_MB
# 0); three on one machine share it: a third each, unless the cap is set.
if [ "${CHIPLAB_WORKER_MAX_MEMORY_MB:-0}" = "0" ] && [ -r /proc/meminfo ]; then
  total_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  export CHIPLAB_WORKER_MAX_MEMORY_MB=$((total_kb * 8 / 10 / 1024 / 3))
fi
supervise_worker() {
  local name=$1 queues=$2 pid=""
  trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; [ -n "$pid" ] && wait "$pid"; exit 0' TERM INT
  while true; do
    "$VENV/bin/celery" -A workers.celery_app worker -Q "$queues" --concurrency 1 \
      --loglevel INFO --hostname "$name@%h" &
    pid=$!
    wait "$pid" || echo "celery worker $name exited ($?); starting it again in 2 s" >&2
    sleep 2
  done
}
supervise_worker interactive gpu &
INTERACTIVE=$!
supervise_worker background default &
BACKGROUND=$!
supervise_worker training training &
TRAINING=$!
WORKERS="$INTERACTIVE $BACKGROUND $TRAINING"
trap 'kill $WORKERS 2>/dev/null; wait $WORKERS 2>/dev/null' EXIT INT TERM

echo "Chiplab on http://$HOST:$PORT/  (API docs: http://$HOST:$PORT/api/docs/)"
"$VENV/bin/gunicorn" config.wsgi --chdir platform --bind "$HOST:$PORT" \
  --workers 2 --threads 4 --timeout 300 --access-logfile -
