#!/bin/bash
# The checks a candidate must pass before it ships (session 13), with the stream rule shipped
# since session 12 (2.0 s, 0.14 s, 7.5 dB). Usage: bench/results/model-compare-s13/checks.sh RUN
cd "$(dirname "$0")/../../.." && exec bench/candidate_checks.sh "$1" bench/results/model-compare-s13 2.0,0.14,7.5
