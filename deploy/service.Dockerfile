# One image per bookpay service, built from the whole uv workspace (the repository root is the
# build context; .dockerignore keeps caches and local data out):
#
#   docker build -f deploy/service.Dockerfile --build-arg SERVICE_PACKAGE=charge_service .
#
# SERVICE_PACKAGE is the service's Python package (booking_service, charge_service, ...); its
# uv workspace member is bookpay-<package with - for _> (bookpay-charge-service). The image runs
# `python -m <package>.main`, which reads its settings from <PREFIX>_* environment variables.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
COPY . .
ARG SERVICE_PACKAGE
RUN test -n "$SERVICE_PACKAGE" \
    && uv sync --frozen --no-dev --no-editable \
        --package "bookpay-$(echo "$SERVICE_PACKAGE" | tr _ -)"

FROM ${PYTHON_IMAGE}
ARG SERVICE_PACKAGE
RUN useradd --system --uid 10001 --no-create-home bookpay
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SERVICE_PACKAGE=${SERVICE_PACKAGE}
USER bookpay
CMD ["sh", "-c", "exec python -m \"${SERVICE_PACKAGE}.main\""]
