#!/usr/bin/env bash
# Regenerates Sources/CLokiProto from proto/push.proto with protoc-c (Debian: protobuf-c-compiler).
# The generated files are committed so that a build needs only libprotobuf-c, not the compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
protoc-c --proto_path=proto --c_out="$out" proto/push.proto
mv "$out/push.pb-c.c" Sources/CLokiProto/push.pb-c.c
# SwiftPM exposes the headers under include/; the .c file includes "push.pb-c.h".
mv "$out/push.pb-c.h" Sources/CLokiProto/include/push.pb-c.h
echo "regenerated Sources/CLokiProto from proto/push.proto ($(protoc-c --version | head -1))"
