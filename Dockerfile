# reconcile as a container image: `make image` builds it (a wheel and its dependencies, then this file).
#
#   docker run --rm -v "$PWD:/work" reconcile:0.3.0 plan /work
#
# The build context is the one tools/image.py lays out: this file and a wheelhouse of the wheel and its
# dependencies (downloaded on the build machine, so the build itself needs no index). BASE is any Debian
# bookworm image: debian:bookworm-slim when the engine has it, else one `make image` bootstraps.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN dpkg -s python3-venv >/dev/null 2>&1 || { apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*; }
COPY wheelhouse/ /wheelhouse/
RUN python3 -m venv /opt/reconcile \
 && /opt/reconcile/bin/pip install --no-cache-dir --no-index --find-links /wheelhouse 'reconcile-iac[watch]' \
 && /opt/reconcile/bin/reconcile --version

FROM ${BASE}
# graphviz draws `graph --format svg|png`; openssh-client is there for ProxyJump and ~/.ssh/config users
RUN { dpkg -s python3 graphviz openssh-client ca-certificates >/dev/null 2>&1 || { apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 graphviz openssh-client \
        ca-certificates \
 && rm -rf /var/lib/apt/lists/*; }; } \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin reconcile
COPY --from=build /opt/reconcile /opt/reconcile
ENV PATH=/opt/reconcile/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    NO_COLOR=1
USER reconcile
WORKDIR /work
# The state of a spec named NAME mounted at /work is /work/.reconcile/stacks/NAME/state.db (the mount must be
# writable by uid 10001,
# or run with --user "$(id -u)"); a remote `state:` backend needs nothing on the mount.
# `reconcile watch` serves its dashboard and metrics on 9464: give `--listen 0.0.0.0:9464` inside the container
# and publish the port on the host's 127.0.0.1 (`-p 127.0.0.1:9464:9464`), see docs/drift.md
EXPOSE 9464
ENTRYPOINT ["reconcile"]
CMD ["--help"]
