# syntax=docker/dockerfile:1
# The Weft relay, built from this repository's packed tarballs (what npm would install):
#   docker build -f deploy/relay.Dockerfile -t weft-relay .
#   docker run -p 127.0.0.1:8787:8787 -v weft-relay-data:/data weft-relay
# NOT BUILT on the project's machines (no Docker engine there): see deploy/README.md.
FROM node:20-bookworm-slim AS build
# better-sqlite3 compiles when no prebuilt binary can be downloaded.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN npm ci --no-audit --no-fund \
  && mkdir /tarballs && npm pack --workspaces --pack-destination /tarballs
RUN npm install -g --no-audit --no-fund \
  /tarballs/weft-crypto-*.tgz /tarballs/weft-core-*.tgz /tarballs/weft-relay-*.tgz

FROM node:20-bookworm-slim
COPY --from=build /usr/local/lib/node_modules/@weft /usr/local/lib/node_modules/@weft
RUN ln -s ../lib/node_modules/@weft/relay/bin/weft-relay.js /usr/local/bin/weft-relay \
  && mkdir /data && chown node:node /data
USER node
ENV NODE_ENV=production WEFT_RELAY_HOST=0.0.0.0 WEFT_RELAY_PORT=8787 WEFT_RELAY_DATA=/data
VOLUME /data
EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=5s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8787/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) closes connections and the database and exits 0.
ENTRYPOINT ["weft-relay"]
