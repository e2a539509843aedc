# syntax=docker/dockerfile:1
# Uncertainty: MC-dropout predictions with uncertainty, as a container.
#   docker build -t uncertainty .                              CPU image (the default target)
#   docker build --target gpu -t uncertainty:gpu .             CUDA image on a PyTorch base (host-libtorch mode; see docs/deployment.md)
# Runs as the non-root user of the .NET images, listens on 8080 (HTTP) and 8081 (gRPC, Open Inference Protocol v2),
# keeps models and training jobs under /data.

ARG DOTNET_IMAGE_TAG=10.0
ARG PYTORCH_IMAGE=pytorch/pytorch:2.11.0-cuda13.0-cudnn9-runtime

# ---- build: restore (cached until a project file changes), then publish --------------------------------
FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_IMAGE_TAG} AS build
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/Uncertainty.Model/Uncertainty.Model.csproj src/Uncertainty.Model/
COPY src/Uncertainty.Api/Uncertainty.Api.csproj src/Uncertainty.Api/
RUN dotnet restore src/Uncertainty.Api/Uncertainty.Api.csproj -r linux-x64
COPY data/ data/
COPY src/Uncertainty.Model/ src/Uncertainty.Model/
COPY src/Uncertainty.Api/ src/Uncertainty.Api/
RUN dotnet publish src/Uncertainty.Api/Uncertainty.Api.csproj -c Release -r linux-x64 --self-contained false \
      --no-restore -o /app

# ---- gpu: the same app on PyTorch's CUDA libtorch, published without the CPU natives --------------------
FROM build AS build-gpu
RUN dotnet restore src/Uncertainty.Api/Uncertainty.Api.csproj -r linux-x64 -p:UseHostLibTorch=true \
 && dotnet publish src/Uncertainty.Api/Uncertainty.Api.csproj -c Release -r linux-x64 --self-contained false \
      --no-restore -p:UseHostLibTorch=true -o /app-gpu

FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_IMAGE_TAG} AS dotnet-runtime
FROM ${PYTORCH_IMAGE} AS gpu
COPY --from=dotnet-runtime /usr/share/dotnet /usr/share/dotnet
RUN ln -sf /usr/share/dotnet/dotnet /usr/bin/dotnet \
 && ln -s "$(python -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')" /opt/libtorch \
 && (id -u app >/dev/null 2>&1 || useradd --uid 1654 --create-home app) \
 && mkdir -p /data && chown 1654:1654 /data
WORKDIR /app
COPY --from=build-gpu /app-gpu ./
ENV Uncertainty__LibTorchDirectory=/opt/libtorch \
    Uncertainty__Device=auto \
    Uncertainty__ModelStore=/data/models \
    Uncertainty__LogFormat=json \
    ASPNETCORE_HTTP_PORTS=8080 \
    DOTNET_RUNNING_IN_CONTAINER=true
# PyTorch images are Ubuntu 22.04 (libstdc++ 3.4.30): the compatibility step runs here, as root, as in the CPU image.
RUN DOTNET_EnableDiagnostics=0 dotnet Uncertainty.Api.dll --prepare-natives
VOLUME /data
EXPOSE 8080 8081
USER 1654
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /health/ready HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["dotnet", "Uncertainty.Api.dll"]

# ---- runtime (CPU), the default target: last in the file ------------------------------------------------------------------------------------
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_IMAGE_TAG} AS runtime
LABEL org.opencontainers.image.title="Uncertainty" \
      org.opencontainers.image.description="Monte Carlo dropout predictions with uncertainty: mean, epistemic variance, entropy and mutual information over HTTP" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://example.invalid/uncertainty"
WORKDIR /app
COPY --from=build /app ./
# Load the natives once on this image's libstdc++ (Ubuntu 24.04 needs nothing; Debian 12 gets one version
# reference marked weak in /app): the running container may then have a read-only root.
RUN DOTNET_EnableDiagnostics=0 dotnet Uncertainty.Api.dll --prepare-natives \
 && mkdir -p /data && chown "$APP_UID:$APP_UID" /data
ENV Uncertainty__ModelStore=/data/models \
    Uncertainty__LogFormat=json \
    ASPNETCORE_HTTP_PORTS=8080
VOLUME /data
EXPOSE 8080 8081
USER $APP_UID
# The .NET images have no curl or wget: bash's /dev/tcp asks /health/ready.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /health/ready HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["dotnet", "Uncertainty.Api.dll"]
