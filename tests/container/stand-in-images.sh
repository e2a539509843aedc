#!/usr/bin/env bash
# Copied unchanged in function from the workplace's shared/containers/stand-in-images.sh, so that CI on a
# clean clone has it. Stand-ins only: a user with Docker builds the Dockerfile on the official images.
# Build and run the project's Dockerfile / docker-compose.yml on a machine with no Docker engine and no
# access to container registries: podman (Debian package) plus local stand-ins for the official
# mcr.microsoft.com/dotnet/{sdk,aspnet}:10.0 images, made from this machine's Debian mirror and .NET.
#   stand-in-images.sh setup    install podman & co, configure them for this machine (idempotent)
#   stand-in-images.sh images   build the stand-in base images (skips those that exist)
#   stand-in-images.sh all      both (default)
#   stand-in-images.sh clean    remove the stand-in images
# Then, in the project:  podman build --pull=never -t uncertainty .   |   podman-compose up -d --build
# Limits of the stand-ins: Debian 12 based (the official 10.0 tags are Ubuntu 24.04), so apt package names
# in a Dockerfile must exist in both; without systemd, podman does not schedule HEALTHCHECKs by itself
# (run `podman healthcheck run NAME`), and podman-compose 1.0 ignores depends_on conditions.
set -euo pipefail
STEP=${1:-all}
ROOTFS=${TMPDIR:-/tmp}/standin-rootfs
WORK=${TMPDIR:-/tmp}/standin-stage
t() { local s=$SECONDS; "$@"; echo ">>> [$((SECONDS-s))s] $*" >&2; }

setup() {
  if ! command -v podman >/dev/null || ! command -v podman-compose >/dev/null || ! command -v debootstrap >/dev/null; then
    t apt-get update -qq
    t env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah podman-compose \
        runc slirp4netns fuse-overlayfs uidmap debootstrap containernetworking-plugins iptables >/dev/null
  fi
  # This machine: hard nofile limit 20000 and nproc 32768 (podman's root defaults exceed them: EPERM),
  # hybrid cgroups (crun refuses them; runc works).
  mkdir -p /etc/containers
  cat > /etc/containers/containers.conf <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
EOF
}

mirror() { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1; }

images() {
  if ! podman image exists localhost/debian:bookworm; then
    [ -x $ROOTFS/bin/bash ] || t debootstrap --variant=minbase bookworm $ROOTFS "$(mirror)" >/dev/null
    t bash -c "tar -C $ROOTFS -c . | podman import -q - localhost/debian:bookworm"
    rm -rf $ROOTFS
  fi
  rm -rf $WORK && mkdir -p $WORK/deps $WORK/aspnet/dotnet/shared $WORK/sdk
  # The machine's extra trusted CAs (its outgoing TLS is re-signed): without them NuGet restore inside a
  # build fails with NU1301 UntrustedRoot. Public certificates, no secrets.
  cp /usr/local/share/ca-certificates/*.crt $WORK/deps/ 2>/dev/null || touch $WORK/deps/none.crt
  cat > $WORK/deps/Containerfile <<'EOF'
FROM localhost/debian:bookworm
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libc6 libgcc-s1 libicu72 libssl3 libstdc++6 tzdata zlib1g \
 && rm -rf /var/lib/apt/lists/*
COPY *.crt /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV APP_UID=1654 ASPNETCORE_HTTP_PORTS=8080 DOTNET_RUNNING_IN_CONTAINER=true
RUN groupadd --gid=$APP_UID app && useradd --no-log-init --uid=$APP_UID --gid=$APP_UID --create-home app
EOF
  podman image exists localhost/dotnet-runtime-deps:10.0 || t podman build -q --pull=never -t localhost/dotnet-runtime-deps:10.0 $WORK/deps
  D=$(dirname "$(readlink -f "$(command -v dotnet)")")
  RT=$(ls $D/shared/Microsoft.NETCore.App | sort -V | tail -1)
  SDK=$(ls $D/sdk | sort -V | tail -1)
  if ! podman image exists mcr.microsoft.com/dotnet/aspnet:10.0; then
    cp -a $D/dotnet $D/host $WORK/aspnet/dotnet/
    cp -al $D/shared/Microsoft.NETCore.App $D/shared/Microsoft.AspNetCore.App $WORK/aspnet/dotnet/shared/
    cat > $WORK/aspnet/Containerfile <<EOF
FROM localhost/dotnet-runtime-deps:10.0
ENV DOTNET_VERSION=$RT ASPNET_VERSION=$RT
COPY dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
EOF
    t podman build -q --pull=never -t mcr.microsoft.com/dotnet/aspnet:10.0 $WORK/aspnet
  fi
  if ! podman image exists mcr.microsoft.com/dotnet/sdk:10.0; then
    cp -al $D $WORK/sdk/dotnet
    cat > $WORK/sdk/Containerfile <<EOF
FROM localhost/dotnet-runtime-deps:10.0
ENV DOTNET_VERSION=$RT ASPNET_VERSION=$RT DOTNET_SDK_VERSION=$SDK DOTNET_NOLOGO=true \\
    DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_GENERATE_ASPNET_CERTIFICATE=false NUGET_XMLDOC_MODE=skip \\
    NUGET_CERT_REVOCATION_MODE=offline
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      curl git procps unzip && rm -rf /var/lib/apt/lists/*
COPY dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet && dotnet --version
EOF
    t podman build -q --pull=never -t mcr.microsoft.com/dotnet/sdk:10.0 $WORK/sdk
  fi
  rm -rf $WORK
  podman images
}

clean() {
  podman rmi -f mcr.microsoft.com/dotnet/sdk:10.0 mcr.microsoft.com/dotnet/aspnet:10.0 \
      localhost/dotnet-runtime-deps:10.0 localhost/debian:bookworm 2>/dev/null || true
  podman image prune -f >/dev/null
}

case $STEP in
  setup) setup ;; images) images ;; clean) clean ;;
  all) setup; images ;;
  *) echo "usage: $0 [setup|images|all|clean]" >&2; exit 2 ;;
esac
