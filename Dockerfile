# keyplane in a container: `keyplane serve` on port 4566, state on a volume, a non-root user.
#
#   docker build -t keyplane .
#   docker run -p 4566:4566 keyplane serve --dev                       # throw-away state, dev credentials
#   docker run -p 4566:4566 -v $PWD/seed.yaml:/seed.yaml keyplane serve --dev --seed /seed.yaml
#   docker run -p 4566:4566 -v keyplane:/var/lib/keyplane keyplane      # persistent: init on first start
#
# BASE is any Debian-like image with python3 and its venv module (python:3.12-slim by default;
# the tests build on a Debian made locally with debootstrap, passed as --build-arg BASE=...).
ARG BASE=python:3.12-slim
FROM ${BASE}
# Behind a TLS-intercepting proxy or with a private index: --build-arg PIP_INDEX_URL=... and
# PIP_CERT=<a CA bundle mounted into the build>; unset by default (pip's own defaults).
ARG PIP_INDEX_URL
ARG PIP_CERT

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/keyplane/bin:$PATH \
    KEYPLANE_HOST=0.0.0.0 \
    KEYPLANE_PORT=4566 \
    KEYPLANE_STATE=/var/lib/keyplane

COPY pyproject.toml README.md LICENSE /src/
COPY provider /src/provider
COPY schemas /src/schemas
# [postgres]: a container is how keyplane joins a PostgreSQL store (examples/compose.yaml)
RUN python3 -m venv /opt/keyplane \
 && /opt/keyplane/bin/pip install "/src[postgres]" \
 && rm -rf /src \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/keyplane --shell /usr/sbin/nologin keyplane \
 && mkdir -p /var/lib/keyplane \
 && chown keyplane:keyplane /var/lib/keyplane \
 && chmod 0700 /var/lib/keyplane

COPY container/entrypoint.sh /usr/local/bin/keyplane-entrypoint
COPY container/healthcheck.py /usr/local/bin/keyplane-healthcheck

USER keyplane
WORKDIR /var/lib/keyplane
VOLUME ["/var/lib/keyplane"]
EXPOSE 4566
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["python3", "/usr/local/bin/keyplane-healthcheck"]
ENTRYPOINT ["/usr/local/bin/keyplane-entrypoint"]
CMD ["serve"]
