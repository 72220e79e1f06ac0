# vodhook receiver image: `docker build -t vodhook . && docker run -p 8080:8080 -v vodhook-data:/data vodhook`
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY .ci/constraints.txt ./
COPY receiver ./receiver
# The versions CI tested (.ci/constraints.txt), not whatever is newest the day the image is built.
RUN pip install --no-cache-dir --prefix=/install -c constraints.txt .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data --create-home vodhook
COPY --from=build /install /usr/local
USER vodhook
WORKDIR /data
ENV VODHOOK_HOST=0.0.0.0 \
    VODHOOK_PORT=8080 \
    VODHOOK_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["vodhook"]
CMD ["serve"]
