#!/usr/bin/env bash
# Prepare an OCI Ampere (arm64) Debian/Ubuntu instance to run Daily Seongsu's flows.
#
#   sudo SEONGSU_REPO_URL=https://github.com/<owner>/<repo>.git bash infra/oci/setup.sh
#
# Idempotent: re-running updates the checkout, the venv and the unit, and creates only what is
# missing.  What it does:
#   1. Docker engine + git + curl + sudo; uv (the project's package manager) into /usr/local/bin;
#   2. a `seongsu` system user (uid 10001, the uid the flow image and the Bento container run as), in
#      the docker group;
#   3. state in /var/lib/seongsu (SEONGSU_HOME of the flow containers and of the Bento service: the
#      BentoML model store every promotion writes to and the Bento service reads from);
#   4. the checkout in /opt/seongsu, owned and updated by `seongsu` (git never runs as root on it),
#      and its locked venv (`uv sync --locked --no-dev`, Python 3.11);
#   5. secrets files with the variable NAMES only -- fill in the values afterwards:
#        /etc/seongsu/worker.env  (PREFECT_API_URL, PREFECT_API_KEY)            root:seongsu 0640
#        /etc/seongsu/flows.env   (warehouse, Supabase, W&B, Seoul/KMA API keys) 10001 0400
#   6. the systemd unit prefect-worker.service (enabled; started once worker.env has a URL);
#   7. when PREFECT_API_URL is set: the work pool `seongsu-docker` and the global concurrency limit
#      `seongsu-ingest` (1 slot: two ingests never overlap), then (re)starts the worker.
#
# SEONGSU_PREFIX (default empty) installs under a staging root instead of / -- tests/infra/test_setup_sh.py
# runs the script twice that way, with the system commands replaced by recording stubs.
set -euo pipefail

REPO_URL="${SEONGSU_REPO_URL:-}"
PREFIX="${SEONGSU_PREFIX:-}"
APP_DIR="$PREFIX/opt/seongsu"
STATE_DIR="$PREFIX/var/lib/seongsu"
ETC_DIR="$PREFIX/etc/seongsu"
UNIT_DIR="$PREFIX/etc/systemd/system"
BIN_DIR="$PREFIX/usr/local/bin"
SEONGSU_USER=seongsu
SEONGSU_UID=10001
POOL=seongsu-docker
INGEST_LIMIT=seongsu-ingest

if [[ -z "$PREFIX" && $EUID -ne 0 ]]; then
  echo "run as root (sudo)" >&2
  exit 1
fi

as_seongsu() {
  sudo -u "$SEONGSU_USER" -H "$@"
}

echo "==> packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q docker.io git curl ca-certificates sudo
systemctl enable --now docker
if ! command -v uv >/dev/null 2>&1; then
  install -d "$BIN_DIR"
  curl -LsSf https://astral.sh/uv/install.sh | env UV_INSTALL_DIR="$BIN_DIR" UV_NO_MODIFY_PATH=1 sh
fi

echo "==> user"
if ! id "$SEONGSU_USER" >/dev/null 2>&1; then
  useradd --system --uid "$SEONGSU_UID" --user-group --home-dir "$STATE_DIR" \
    --shell /usr/sbin/nologin "$SEONGSU_USER"
fi
usermod -aG docker "$SEONGSU_USER"

echo "==> state"
# before anything runs as the user: its home, uv's cache and Prefect's home live here
install -d -o "$SEONGSU_USER" -g "$SEONGSU_USER" -m 0750 \
  "$STATE_DIR" "$STATE_DIR/prefect-worker" "$STATE_DIR/.uv-cache" "$STATE_DIR/bentoml"

echo "==> code"
if [[ -d "$APP_DIR/.git" ]]; then
  # an earlier version of this script cloned as root: hand the checkout to the user first
  chown -R "$SEONGSU_USER:$SEONGSU_USER" "$APP_DIR"
  as_seongsu git -C "$APP_DIR" pull --ff-only
elif [[ -n "$REPO_URL" ]]; then
  install -d -o "$SEONGSU_USER" -g "$SEONGSU_USER" -m 0755 "$APP_DIR"
  as_seongsu git clone --depth 1 "$REPO_URL" "$APP_DIR"
elif [[ -f "$APP_DIR/pyproject.toml" ]]; then
  chown -R "$SEONGSU_USER:$SEONGSU_USER" "$APP_DIR"
else
  echo "set SEONGSU_REPO_URL (or copy the repository to $APP_DIR)" >&2
  exit 1
fi
as_seongsu env UV_PYTHON_INSTALL_DIR="$APP_DIR/.python" UV_CACHE_DIR="$STATE_DIR/.uv-cache" \
  uv sync --project "$APP_DIR" --locked --no-dev --compile-bytecode --python 3.11

echo "==> secrets (names only; edit the values)"
install -d -m 0755 "$ETC_DIR"
if [[ ! -f "$ETC_DIR/worker.env" ]]; then
  printf '%s\n' "# Prefect connection of the worker (KEY=VALUE, no quotes)" "PREFECT_API_URL=" "PREFECT_API_KEY=" \
    > "$ETC_DIR/worker.env"
fi
chown "root:$SEONGSU_USER" "$ETC_DIR/worker.env"
chmod 0640 "$ETC_DIR/worker.env"
if [[ ! -f "$ETC_DIR/flows.env" ]]; then
  printf '%s\n' "# Secrets of the flow containers (KEY=VALUE, no quotes)" \
    "SEONGSU_WAREHOUSE_URL=" "SUPABASE_URL=" "SUPABASE_KEY=" "WANDB_API_KEY=" \
    "SEOUL_DATA_API_KEY=" "KMA_API_KEY=" > "$ETC_DIR/flows.env"
fi
chown "$SEONGSU_UID" "$ETC_DIR/flows.env"
chmod 0400 "$ETC_DIR/flows.env"

echo "==> systemd"
install -d -m 0755 "$UNIT_DIR"
install -m 0644 "$APP_DIR/infra/oci/prefect-worker.service" "$UNIT_DIR/prefect-worker.service"
systemctl daemon-reload
systemctl enable prefect-worker.service

PREFECT_API_URL="$(sed -n 's/^PREFECT_API_URL=//p' "$ETC_DIR/worker.env")"
PREFECT_API_KEY="$(sed -n 's/^PREFECT_API_KEY=//p' "$ETC_DIR/worker.env")"
pf() {
  as_seongsu env PREFECT_API_URL="$PREFECT_API_URL" PREFECT_API_KEY="$PREFECT_API_KEY" \
    PREFECT_HOME="$STATE_DIR/prefect-worker" UV_CACHE_DIR="$STATE_DIR/.uv-cache" \
    uv run --project "$APP_DIR" --no-sync prefect --no-prompt "$@"
}
if [[ -n "$PREFECT_API_URL" ]]; then
  echo "==> work pool and ingest limit"
  if ! pf work-pool inspect "$POOL" >/dev/null 2>&1; then
    pf work-pool create "$POOL" --type docker
  fi
  if ! pf global-concurrency-limit inspect "$INGEST_LIMIT" >/dev/null 2>&1; then
    pf global-concurrency-limit create "$INGEST_LIMIT" --limit 1
  fi
  systemctl restart prefect-worker.service
  systemctl --no-pager status prefect-worker.service || true
else
  echo "PREFECT_API_URL is empty: fill $ETC_DIR/worker.env, then re-run this script" >&2
fi
