#!/bin/sh
# Regenerates tests/data/chat-templates/golden/*.json with python3-jinja2 (the truth: transformers' configuration)
# and compares every render with @huggingface/jinja (second reference; disagreements are listed, see README.md).
# Needs: apt-get install -y python3-jinja2; (cd tools/reference && npm ci)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../../tests/data/chat-templates"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$data/golden"
/usr/bin/python3 "$here/chat_template_ref.py" "$data" "$data/golden"
(cd "$here" && node chat_template_ref.mjs "$data" "$tmp/node")
/usr/bin/python3 "$here/compare_chat_goldens.py" "$data/golden" "$tmp/node"
echo "interpreter cases:"; /usr/bin/python3 "$here/interpreter_cases.py" "$data/interpreter-cases.json"
