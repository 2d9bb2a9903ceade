#!/usr/bin/env bash
# Debian packages echo-edge needs: speech synthesis for tests/training (festival and its voices:
# evaluation only), PortAudio + PulseAudio for the microphone path. Installs them when run as
# root; otherwise says what is missing.
set -u
PKGS="espeak-ng flite festival festvox-kdlpc16k festvox-kallpc16k festvox-us-slt-hts libsndfile1 libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages:$missing"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null) \
    || { echo "error: apt-get install failed for:$missing" >&2; exit 1; }
else
  echo "warning: missing Debian packages:$missing (run as root: apt-get install$missing);" \
       "tests that need them will skip" >&2
fi
