#!/usr/bin/env bash
# Prepare an OCI Ampere (arm64) Ubuntu 22.04/24.04 instance to run Daily Seongsu's flows.
#
#   sudo SEONGSU_REPO_URL=https://github.com/<owner>/<repo>.git bash infra/oci/setup.sh
#
# Idempotent: re-running updates the checkout, the venv and the unit.  What it does:
#   1. Docker engine + git + curl; uv (the project's package manager) into /usr/local/bin;
#   2. a `seongsu` system user (uid 10001, the uid the flow image runs as), in the docker group;
#   3. the checkout in /opt/seongsu and its locked venv (`uv sync --locked --no-dev`, Python 3.11);
#   4. state in /var/lib/seongsu (SEONGSU_HOME of the flow containers and of the Bento service);
#   5. secrets files with the variable NAMES only -- fill in the values afterwards:
#        /etc/seongsu/worker.env  (PREFECT_API_URL, PREFECT_API_KEY)            root:seongsu 0640
#        /etc/seongsu/flows.env   (warehouse, Supabase, W&B, Seoul/KMA API keys) 10001 0400
#   6. the systemd unit prefect-worker.service (enabled; started once worker.env has a URL);
#   7. when PREFECT_API_URL is set: the work pool `seongsu-docker` and its `ingest` queue (limit 1).
set -euo pipefail

REPO_URL="${SEONGSU_REPO_URL:-}"
APP_DIR=/opt/seongsu
STATE_DIR=/var/lib/seongsu
ETC_DIR=/etc/seongsu
SEONGSU_UID=10001

if [[ $EUID -ne 0 ]]; then
  echo "run as root (sudo)" >&2
  exit 1
fi

echo "==> packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q docker.io git curl ca-certificates
systemctl enable --now docker
if ! command -v uv >/dev/null 2>&1; then
  curl -LsSf https://astral.sh/uv/install.sh | env UV_INSTALL_DIR=/usr/local/bin UV_NO_MODIFY_PATH=1 sh
fi

echo "==> user"
if ! id seongsu >/dev/null 2>&1; then
  useradd --system --uid "$SEONGSU_UID" --user-group --home-dir "$STATE_DIR" --shell /usr/sbin/nologin seongsu
fi
usermod -aG docker seongsu

echo "==> code"
if [[ -d "$APP_DIR/.git" ]]; then
  git -C "$APP_DIR" pull --ff-only
elif [[ -n "$REPO_URL" ]]; then
  git clone --depth 1 "$REPO_URL" "$APP_DIR"
elif [[ ! -f "$APP_DIR/pyproject.toml" ]]; then
  echo "set SEONGSU_REPO_URL (or copy the repository to $APP_DIR)" >&2
  exit 1
fi
chown -R seongsu:seongsu "$APP_DIR"
sudo -u seongsu env UV_PYTHON_INSTALL_DIR="$APP_DIR/.python" UV_CACHE_DIR="$STATE_DIR/.uv-cache" \
  uv sync --project "$APP_DIR" --locked --no-dev --python 3.11

echo "==> state"
install -d -o seongsu -g seongsu -m 0750 "$STATE_DIR" "$STATE_DIR/prefect-worker"

echo "==> secrets (names only; edit the values)"
install -d -m 0755 "$ETC_DIR"
if [[ ! -f "$ETC_DIR/worker.env" ]]; then
  printf '%s\n' "# Prefect connection of the worker (KEY=VALUE, no quotes)" "PREFECT_API_URL=" "PREFECT_API_KEY=" \
    > "$ETC_DIR/worker.env"
fi
chown root:seongsu "$ETC_DIR/worker.env"
chmod 0640 "$ETC_DIR/worker.env"
if [[ ! -f "$ETC_DIR/flows.env" ]]; then
  printf '%s\n' "# Secrets of the flow containers (KEY=VALUE, no quotes)" \
    "SEONGSU_WAREHOUSE_URL=" "SUPABASE_URL=" "SUPABASE_KEY=" "WANDB_API_KEY=" \
    "SEOUL_DATA_API_KEY=" "KMA_API_KEY=" > "$ETC_DIR/flows.env"
fi
chown "$SEONGSU_UID" "$ETC_DIR/flows.env"
chmod 0400 "$ETC_DIR/flows.env"

echo "==> systemd"
install -m 0644 "$APP_DIR/infra/oci/prefect-worker.service" /etc/systemd/system/prefect-worker.service
systemctl daemon-reload
systemctl enable prefect-worker.service

set -a
# shellcheck disable=SC1091
. "$ETC_DIR/worker.env"
set +a
pf() {
  sudo -u seongsu env PREFECT_API_URL="$PREFECT_API_URL" PREFECT_API_KEY="${PREFECT_API_KEY:-}" \
    PREFECT_HOME="$STATE_DIR/prefect-worker" "$APP_DIR/.venv/bin/prefect" --no-prompt "$@"
}
if [[ -n "${PREFECT_API_URL:-}" ]]; then
  echo "==> work pool and ingest queue"
  pf work-pool inspect seongsu-docker >/dev/null 2>&1 || pf work-pool create seongsu-docker --type docker
  # the queue may already exist (a deploy creates it without a limit): create, else set the limit
  pf work-queue create ingest --pool seongsu-docker --limit 1 >/dev/null 2>&1 \
    || pf work-queue set-concurrency-limit ingest 1 --pool seongsu-docker
  systemctl restart prefect-worker.service
  systemctl --no-pager status prefect-worker.service || true
else
  echo "PREFECT_API_URL is empty: fill $ETC_DIR/worker.env, then re-run this script" >&2
fi
