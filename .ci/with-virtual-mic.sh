#!/usr/bin/env bash
# Run a command with a virtual microphone when one can be made here (PulseAudio null sink from
# ../shared/tools/virtual-mic.sh); otherwise just run it (the recording test then skips).
set -uo pipefail
TOOL="$(dirname "$0")/../../shared/tools/virtual-mic.sh"
started=0
if [ -f "$TOOL" ] && command -v pulseaudio >/dev/null 2>&1 && command -v espeak-ng >/dev/null 2>&1; then
  export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/fusionlab-mic-runtime}
  export FUSIONLAB_VIRTUAL_MIC=$(readlink -f "$TOOL")
  # shellcheck disable=SC1090
  if source "$TOOL" start >/dev/null 2>&1; then started=1; else echo "note: the virtual microphone did not start" >&2; fi
fi
"$@"
status=$?
[ "$started" = 1 ] && bash "$TOOL" stop >/dev/null 2>&1
exit $status
