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

"$VENV/bin/celery" -A workers.celery_app worker -Q default,gpu --concurrency 2 \
  --loglevel INFO --hostname "embedded@%h" &
WORKER=$!
trap 'kill $WORKER 2>/dev/null; wait $WORKER 2>/dev/null' EXIT INT TERM

echo "Chiplab on http://$HOST:$PORT/  (API docs: http://$HOST:$PORT/api/docs/)"
"$VENV/bin/gunicorn" config.wsgi --chdir platform --bind "$HOST:$PORT" \
  --workers 2 --threads 4 --timeout 300 --access-logfile -
