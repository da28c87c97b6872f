# syntax=docker/dockerfile:1.7
# TaskFlow images, built from the repository root (see deploy/README.md):
#
#   docker build -t taskflow:0.1.0 .                          the app (default target: runtime)
#   docker build --target edge -t taskflow-edge:0.1.0 .       nginx + the built web client
#
# runtime: one `taskflow serve` per container: one process (Uvicorn, or Hypercorn with
#   TASKFLOW_SERVER=hypercorn; no worker processes), as an unprivileged user, with the web
#   client at / (TASKFLOW_WEB_DIST). SIGTERM starts a graceful shutdown: the server stops
#   accepting (the proxy's next try reaches another instance), in-flight requests get up to
#   10 s to finish, live connections are closed and their clients reconnect to another
#   instance. Give the container more than that before SIGKILL (compose: stop_grace_period,
#   Kubernetes: terminationGracePeriodSeconds).
# edge: the repository's nginx.conf rendered at start by deploy/nginx/render.sh, serving the
#   hashed assets from disk; the same files a CDN can serve (deploy/README.md, "CDN").
#
# Build arguments:
#   VITE_API_URL     origin of the API baked into the web client ("" = same origin)
#
# The Python packages are exactly those of requirements/run.lock (versions and hashes), the
# same the two commands install; scripts/lock.sh rewrites it from pyproject.toml.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim
ARG NGINX_IMAGE=nginx:1.28-alpine

# ---- 1. the web client: web/dist with content-hashed names under assets/ -----------------
FROM ${NODE_IMAGE} AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
ARG VITE_API_URL=""
ENV VITE_API_URL=${VITE_API_URL}
RUN npm run build

# ---- 2. the Python package and its dependencies in a virtualenv --------------------------
FROM ${PYTHON_IMAGE} AS python
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/taskflow
COPY requirements/run.lock /src/requirements/
RUN /opt/taskflow/bin/pip install --require-hashes -r /src/requirements/run.lock
COPY pyproject.toml README.md /src/
COPY server/ /src/server/
# hadolint ignore=DL3013
RUN /opt/taskflow/bin/pip install --no-deps /src \
 && /opt/taskflow/bin/taskflow --version

# ---- 3. edge: nginx with the built client and the repository's nginx.conf ----------------
FROM ${NGINX_IMAGE} AS edge
COPY nginx.conf /etc/taskflow/nginx.conf.template
COPY deploy/nginx/render.sh /usr/local/bin/taskflow-nginx-render
COPY --from=web /web/dist /srv/taskflow/web
EXPOSE 80 443
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1/nginx-health"]
ENTRYPOINT ["/bin/sh", "/usr/local/bin/taskflow-nginx-render"]
CMD ["nginx", "-g", "daemon off;"]

# ---- 4. runtime (the default target): the TaskFlow server --------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 taskflow \
 && useradd --system --uid 10001 --gid taskflow --home-dir /var/lib/taskflow --no-create-home \
        --shell /usr/sbin/nologin taskflow \
 && install -d -o taskflow -g taskflow -m 0750 /var/lib/taskflow
COPY --from=python /opt/taskflow /opt/taskflow
COPY --from=web /web/dist /srv/taskflow/web
# Settings baked in are the container's facts only; everything else comes from the
# environment at run time (deploy/.env.example). Secrets never go here.
ENV PATH=/opt/taskflow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TASKFLOW_ENV=production \
    TASKFLOW_DATA_DIR=/var/lib/taskflow \
    TASKFLOW_WEB_DIST=/srv/taskflow/web \
    TASKFLOW_LOG_JSON=1
WORKDIR /var/lib/taskflow
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=2)"]
ENTRYPOINT ["taskflow"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
