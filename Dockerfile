# syntax=docker/dockerfile:1
# The mmrag image: API (`mmrag serve`) and ingest worker (`python -m ingest`).
# Stage 1 builds every wheel, with a compiler for llama-cpp-python (built from source, for any
# CPU: GGML_NATIVE=OFF); stage 2 installs those wheels on a slim base without a compiler.
#   docker build -t mmrag .
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124 -t mmrag:cuda .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake git \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
# CPU torch by default: a much smaller image; pass another index for CUDA builds.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
WORKDIR /src
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel -w /wheels --index-url "${TORCH_INDEX_URL}" "torch>=2.4" "torchvision>=0.19"
COPY pyproject.toml README.md ./
COPY rag ./rag
COPY ingest ./ingest
COPY api ./api
COPY mmrag_cli ./mmrag_cli
RUN --mount=type=cache,target=/root/.cache/pip \
    CMAKE_ARGS="-DGGML_NATIVE=OFF" pip wheel -w /wheels --find-links /wheels ".[local-llm]"

FROM ${PYTHON_IMAGE}
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 MMRAG_DATA_DIR=/data
# llama.cpp's OpenMP runtime.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels "mmrag[local-llm]"
RUN useradd --create-home --uid 1000 mmrag \
 && mkdir -p /data /shared /collections \
 && chown mmrag:mmrag /data /shared
USER mmrag
WORKDIR /home/mmrag
VOLUME ["/data"]
EXPOSE 8000
CMD ["mmrag", "serve", "--host", "0.0.0.0", "--port", "8000"]
