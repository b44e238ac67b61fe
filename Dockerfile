# syntax=docker/dockerfile:1
# AIPROD's generation service: `aiprod serve`, `aiprod worker`, `aiprod db upgrade`, `aiprod keys`.
#   CPU:  docker build -t aiprod:cpu .
#   CUDA: docker build -t aiprod:cuda \
#           --build-arg BASE_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 \
#           --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126 .
# Python 3.11 comes from uv's standalone builds, so any glibc base (Debian, the CUDA images)
# gets the same interpreter; models are mounted at /app/models, never baked in.
ARG BASE_IMAGE=debian:bookworm-slim
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.9.5

FROM ${UV_IMAGE} AS uv

FROM ${BASE_IMAGE} AS build
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN uv python install 3.11 && uv venv --python 3.11 /opt/venv
# torch first, from the index of the chosen build (cpu or a CUDA version), pinned as in pyproject
RUN uv pip install --index-url "${TORCH_INDEX}" torch==2.14.1 torchvision==0.29.1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY flows ./flows
RUN uv pip install .

FROM ${BASE_IMAGE} AS runtime
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 aiprod \
    && useradd --create-home --uid 10001 --gid 10001 aiprod \
    && mkdir -p /app/models /app/serve/media \
    && chown -R aiprod /app
COPY --from=build /opt/python /opt/python
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false
WORKDIR /app
COPY --chown=10001:10001 params.yaml ./
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["aiprod"]
CMD ["serve", "--host", "0.0.0.0"]
