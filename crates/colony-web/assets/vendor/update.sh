#!/usr/bin/env bash
# Refetches the page's vendored front-end files from npm. The build never
# runs this: the files are checked in. htm's `preact/standalone` build is
# Preact, its hooks and htm in one ES module.
set -euo pipefail
cd "$(dirname "$0")"
version="${1:-3.1.1}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "htm@$version" "preact@10" >/dev/null)
tar xzf "$tmp"/htm-*.tgz -C "$tmp" package/preact/standalone.module.js package/LICENSE
cp "$tmp/package/preact/standalone.module.js" htm-preact.js
cp "$tmp/package/LICENSE" LICENSE-htm
rm -rf "$tmp/package"
tar xzf "$tmp"/preact-*.tgz -C "$tmp" package/LICENSE
cp "$tmp/package/LICENSE" LICENSE-preact
echo "vendored htm $version (with Preact) into $(pwd)"
