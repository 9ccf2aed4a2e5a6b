#!/usr/bin/env bash
# Licensed under the Apache License, Version 2.0.
# kcat driver: produce 3 keyed records with headers (one batch), then consume
# them back with a balanced (group) consumer (committed offset, else
# auto.offset.reset=earliest), exit after 3 records, commit on close.
#   kcat.sh <bootstrap> <codec> [extra kcat args, e.g. -X api.version.request=false]
set -euo pipefail
BROKER=$1; CODEC=$2; shift 2
TOPIC=${GOLDEN_TOPIC:-golden}
Z=()
[ "$CODEC" != none ] && Z=(-z "$CODEC")
# Values repeat a phrase so that every codec shrinks the batch: librdkafka
# sends a batch uncompressed when compressing does not make it smaller.
for i in 0 1 2; do
  v="golden value $i from kcat, "
  printf 'key-%d\t%s%s%s%s\n' "$i" "$v" "$v" "$v" "$v"
done |
  kcat -P -b "$BROKER" -t "$TOPIC" -p 0 -K $'\t' "${Z[@]}" -H client=kcat -H "codec=$CODEC" \
       -X linger.ms=100 -X client.id=golden-kcat-producer "$@"
kcat -C -b "$BROKER" -G golden-kcat -e -c 3 \
     -X client.id=golden-kcat-consumer -X auto.offset.reset=earliest \
     -f 'consumed offset=%o key=%k value=%s headers=%h\n' "$@" "$TOPIC"
