# One image for both programs: `star-operator` (the default command) and `star-ca serve`.
# Used by charts/star-operator (its Deployments set `command:`). Not built in CI here: the CI
# machine has no Docker engine and no registry. Build with:
#   docker build -t star-operator:0.1.0 .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
 && groupadd --system --gid 10001 star \
 && useradd --system --uid 10001 --gid star --no-create-home --home-dir /nonexistent star
# Numeric user so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
# kopf liveness (/healthz), Prometheus metrics, star-ca HTTPS.
EXPOSE 8080 9090 14000
CMD ["star-operator", "--all-namespaces", "--liveness=http://0.0.0.0:8080/healthz"]
