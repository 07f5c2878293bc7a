# Daily Seongsu flow image for the `seongsu-docker` work pool (built for linux/arm64: the OCI Ampere box).
# All state goes to /data (SEONGSU_HOME, the BentoML model store, Prefect and W&B homes): the work
# pool mounts the box's /var/lib/seongsu there, shared with the Bento service; the code stays read-only.
#
# Built by prefect.yaml's `build_docker_image` step (platform: linux/arm64) from the repository root:
#   docker build --platform linux/arm64 -f infra/docker/worker.Dockerfile -t <registry>/seongsu-worker:<tag> .
# It is written for the classic builder too (no BuildKit-only syntax), because prefect-docker's default
# backend (docker-py) uses the classic build API.
#
# The Docker worker starts one container per flow run with its own command (`prefect flow-run
# execute`); the entrypoint only loads the box's secrets file first.  The same image can also *be* the
# worker (it has prefect-docker):
#   docker run -d --name seongsu-worker -v /var/run/docker.sock:/var/run/docker.sock \
#     --env-file /etc/seongsu/worker.env <image> prefect worker start --pool seongsu-docker
# although infra/oci/prefect-worker.service runs the worker from a host venv instead.

FROM python:3.11-slim-bookworm

COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /uvx /usr/local/bin/

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/seongsu/.venv \
    PATH=/opt/seongsu/.venv/bin:$PATH \
    HOME=/data \
    SEONGSU_HOME=/data \
    PREFECT_HOME=/data/prefect \
    BENTOML_HOME=/data/bentoml \
    BENTOML_DO_NOT_TRACK=true \
    WANDB_DIR=/data/wandb \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

WORKDIR /opt/seongsu

# dependencies first: this layer is rebuilt only when the lock file changes
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project

# then the code (tasks/, flows/, cli/, bentos/, space/, infra/, the data snapshot; see .dockerignore)
COPY . .
RUN uv sync --locked --no-dev \
 && useradd --system --uid 10001 --gid 0 --home-dir /data --no-create-home seongsu \
 && mkdir -p /data \
 && chown 10001:0 /data \
 && chmod g+rwX /data

USER 10001
ENTRYPOINT ["/bin/sh", "/opt/seongsu/infra/docker/entrypoint.sh"]
CMD ["prefect", "version"]
