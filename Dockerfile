# mqgate: a small, static, non-root image.
#   docker build -t mqgate .
#   docker run -p 61613:61613 -p 5672:5672 -p 8161:8161 -v mqgate-data:/data mqgate
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/mqgate . \
 && mkdir -p /out/data

FROM scratch
COPY --from=build /out/mqgate /mqgate
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV MQGATE_NODE_DATA_DIR=/data \
    MQGATE_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 61613 5672 8161
ENTRYPOINT ["/mqgate"]
CMD ["serve"]
