# A minimal CI image with tenantops in it (Debian 12 slim, with git, jq, the AWS CLI
# and CA certificates, which the workflows and buildspecs use beside it), running as an
# unprivileged user. Two ways to get tenantops into it:
#
#   docker build -t tenantops .                          the release named by
#       TENANTOPS_VERSION (default: this Cargo.toml's), installed by scripts/install,
#       which verifies the archive against the release's SHA256SUMS (and against
#       --build-arg TENANTOPS_SHA256=<digest> when given)
#   docker build -t tenantops --target from-source .     this checkout, compiled
#
# Use it as a CodeBuild image (the buildspecs skip their install step when tenantops
# is on the PATH) or as a GitHub Actions job container.
ARG DEBIAN=debian:12-slim

FROM ${DEBIAN} AS base
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl git jq awscli \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 tenantops

# Cargo.toml's rust-version is the floor (tests/pipeline.rs checks this tag against it).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && cp target/release/tenantops /usr/local/bin/tenantops

FROM base AS from-source
COPY --from=build /usr/local/bin/tenantops /usr/local/bin/tenantops
USER tenantops
WORKDIR /fleet
ENTRYPOINT ["tenantops"]
CMD ["--help"]

FROM base AS release
ARG TENANTOPS_VERSION=v0.1.0
ARG TENANTOPS_SHA256=
ARG TENANTOPS_RELEASES=https://github.com/example-org/tenantops/releases/download
COPY scripts/install /usr/local/lib/tenantops/install
RUN TENANTOPS_SHA256="$TENANTOPS_SHA256" TENANTOPS_RELEASES="$TENANTOPS_RELEASES" \
    /usr/local/lib/tenantops/install "$TENANTOPS_VERSION" /usr/local \
    && tenantops --version
USER tenantops
WORKDIR /fleet
ENTRYPOINT ["tenantops"]
CMD ["--help"]
