#!/bin/sh
# Tributary's main job on a fresh machine: install into .venv, start the embedded local cloud
# (AWS emulator, PostgreSQL, function runtime), deploy template.yaml, run the ingestion.
set -eu
cd "$(dirname "$0")"

if [ ! -x .venv/bin/tributary ] || [ pyproject.toml -nt .venv/.installed ]; then
    echo "==> installing into .venv"
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e .
    touch .venv/.installed
fi

echo "==> starting the local cloud and deploying template.yaml"
.venv/bin/tributary stack up

echo "==> ingesting every stream of every declared source (sources/*.yaml)"
.venv/bin/tributary ingest --all --wait

echo "==> the local cloud keeps running; stop it with: .venv/bin/tributary stack down"
