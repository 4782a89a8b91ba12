# The product image: the wheel only (no emulators, no tests), run as a non-root user.
#   docker build -t bcc-capture .
# One image, several processes (compose.yaml): `db upgrade` once, then `serve`, `worker` (any number), `smtp`.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md LICENSE NOTICE settings.yaml ./
COPY connector ./connector
COPY providers ./providers
COPY alembic ./alembic
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app bcc
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY settings.yaml /etc/bcc-capture/settings.yaml
ENV BCC_CAPTURE_SETTINGS=/etc/bcc-capture/settings.yaml \
    BCC_CAPTURE_MODE=production \
    PYTHONUNBUFFERED=1
USER bcc
EXPOSE 8080 2525
ENTRYPOINT ["bcc-capture"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "0"]
