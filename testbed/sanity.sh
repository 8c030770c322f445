#!/usr/bin/env bash
# The import test is left out: it bootstraps pip from the internet.
# ansible-test must run from a directory named ansible_collections/<ns>/<name>;
# stage the collection's plugins and metadata there and run the sanity tests.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
stage="${TMPDIR:-/tmp}/trtllm-deploy-sanity/ansible_collections/trtllm/deploy"
rm -rf "$stage"
mkdir -p "$stage"
cp -r "$repo/plugins" "$repo/meta" "$repo/galaxy.yml" "$stage/"
find "$stage" -name __pycache__ -prune -exec rm -rf {} +
# ansible-test bootstraps pip in its per-test venvs with a script it downloads;
# offline, the same job is done by the stdlib's ensurepip.
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
pip_version=$(python3 -c "import ansible_test._internal.python_requirements as r, re; \
print(re.search(r\"pip='([0-9.]+)'\", open(r.__file__).read()).group(1))")
printf 'import ensurepip\nensurepip.bootstrap(upgrade=True)\n' > "$cache/get_pip_${pip_version//./_}.py"
cd "$stage"
ansible-test sanity --local --color no --python 3.11 --test validate-modules --test compile \
  --test yamllint --test pep8 "$@" 2>&1
