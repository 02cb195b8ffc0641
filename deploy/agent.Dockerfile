# syntax=docker/dockerfile:1
# The Weft agent (`weft sync`) in a container, for a server or NAS that syncs a mounted folder:
#   docker build -f deploy/agent.Dockerfile -t weft-agent .
#   docker run --rm -it -v weft-home:/home/node/.weft weft-agent init
#   docker run --rm -it -v weft-home:/home/node/.weft -e WEFT_PASSWORD weft-agent \
#     account login --relay https://relay.example.org --user ana
#   docker run --rm -i -v weft-home:/home/node/.weft -v /srv/shared:/sync/shared weft-agent \
#     folder join - /sync/shared < invite.txt
#   docker run -d --restart unless-stopped -v weft-home:/home/node/.weft -v /srv/shared:/sync/shared weft-agent
# The folder's path inside the container is what the agent records: mount it at the same place
# every time. NOT BUILT on the project's machines (no Docker engine there): see deploy/README.md.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN npm ci --no-audit --no-fund \
  && mkdir /tarballs && npm pack --workspaces --pack-destination /tarballs
RUN npm install -g --no-audit --no-fund /tarballs/*.tgz

FROM node:20-bookworm-slim
COPY --from=build /usr/local/lib/node_modules/@weft /usr/local/lib/node_modules/@weft
RUN ln -s ../lib/node_modules/@weft/node-agent/bin/weft.js /usr/local/bin/weft \
  && mkdir -p /home/node/.weft /sync && chown node:node /home/node/.weft /sync
USER node
ENV NODE_ENV=production WEFT_HOME=/home/node/.weft
VOLUME /home/node/.weft
ENTRYPOINT ["weft"]
CMD ["sync"]
