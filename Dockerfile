# The mmrag image: API (`mmrag serve`) and ingest worker (`python -m ingest`).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 MMRAG_DATA_DIR=/data
WORKDIR /app
# A CPU build of torch keeps the image small; pass TORCH_INDEX_URL to pick another build.
ARG TORCH_INDEX_URL=""
RUN pip install ${TORCH_INDEX_URL:+--index-url $TORCH_INDEX_URL} "torch>=2.4" "torchvision>=0.19"
COPY pyproject.toml README.md ./
COPY rag ./rag
COPY ingest ./ingest
COPY api ./api
COPY mmrag_cli ./mmrag_cli
RUN pip install ".[local-llm]"
VOLUME ["/data"]
EXPOSE 8000
CMD ["mmrag", "serve", "--host", "0.0.0.0", "--port", "8000"]
