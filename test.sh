#!/usr/bin/env bash
# All tests: Go (race detector, SQLite and PostgreSQL), the dashboard's
# component tests and its end-to-end run in Debian's Chromium.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"

echo "== go test (race detector; SQLite and PostgreSQL at 127.0.0.1:5432)"
# footage/playback encodes real H.264 with ffmpeg on both backends: on a
# busy 2-core machine it passed go test's default 10 min per package once.
go test -race -count=1 -timeout 30m ./...

echo "== dashboard: component tests and end-to-end in Chromium"
if ! command -v chromium >/dev/null; then
  echo "chromium is missing: apt-get install -y chromium (Debian's package; no browser download)" >&2
  exit 1
fi
cd frontend
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
npm test
npm run e2e
