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

# Two processes: a re-run starts beside the previous job's downloads or chip-size check, which
# give way to it (common/priority.py). A third process measured no better on a 2-core machine
# (chiplab_bench_segment --after shown --processes 2|3) and costs ~0.6 GB more.
# The worker is started again whenever it exits (killed, out of memory); when it starts it
# enqueues again the jobs a dead worker had taken from the filesystem broker (workers/recovery.py).
supervise_worker() {
  local pid=""
  trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; [ -n "$pid" ] && wait "$pid"; exit 0' TERM INT
  while true; do
    "$VENV/bin/celery" -A workers.celery_app worker -Q default,gpu,training --concurrency 2 \
      --loglevel INFO --hostname "embedded@%h" &
    pid=$!
    wait "$pid" || echo "celery worker exited ($?); starting it again in 2 s" >&2
    sleep 2
  done
}
supervise_worker &
WORKER=$!
trap 'kill $WORKER 2>/dev/null; wait $WORKER 2>/dev/null' EXIT INT TERM

echo "Chiplab on http://$HOST:$PORT/  (API docs: http://$HOST:$PORT/api/docs/)"
"$VENV/bin/gunicorn" config.wsgi --chdir platform --bind "$HOST:$PORT" \
  --workers 2 --threads 4 --timeout 300 --access-logfile -
