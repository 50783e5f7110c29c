# Team server image: `docker compose up -d` (see compose.yaml and docs/deployment.md).
FROM python:3.11-slim-bookworm

# Chromium prints the PDF report (crm_core/report.py); build with
# --build-arg INSTALL_CHROMIUM=false for a smaller image (the HTML report still works).
ARG INSTALL_CHROMIUM=true
RUN if [ "$INSTALL_CHROMIUM" = "true" ]; then \
        apt-get update && apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
        && rm -rf /var/lib/apt/lists/*; \
    fi

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Runtime dependencies only: requirements.txt lists them above its "# Tests" line.
COPY requirements.txt .
RUN sed '/^# Tests/,$d' requirements.txt > /tmp/runtime-requirements.txt \
    && pip install -r /tmp/runtime-requirements.txt \
    && rm /tmp/runtime-requirements.txt

COPY . .
# Production Streamlit settings: no stack traces to users, no file watcher, cache bound.
COPY .streamlit/config.prod.toml .streamlit/config.toml

# Run as an unprivileged user; the workspace (uploads, catalog, notes) is a volume.
RUN useradd --create-home --uid 10001 crm \
    && mkdir -p /data/workspace && chown -R crm:crm /data
USER crm

ENV CRM_WORKSPACE=/data/workspace \
    CRM_LOG_FORMAT=json \
    CRM_LOG_LEVEL=INFO \
    STREAMLIT_SERVER_ADDRESS=0.0.0.0 \
    STREAMLIT_SERVER_PORT=8501
VOLUME ["/data/workspace"]
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status == 200 else 1)"

CMD ["python", "-m", "streamlit", "run", "app.py"]
