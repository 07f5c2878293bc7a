#!/bin/sh
# Load the secrets file the docker work pool mounts (infra/oci/prefect.yaml: /etc/seongsu/flows.env on the box ->
# /run/secrets/seongsu.env), then run the container's command.  Secrets thus never pass through Prefect
# (deployment job variables are visible in the UI/API); the box keeps them in one root-owned file.
# Format: KEY=VALUE per line, no quotes, '#' comments; values are taken literally.
set -eu
secrets=/run/secrets/seongsu.env
if [ -r "$secrets" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      '' | '#'*) continue ;;
      *=*)
        # export KEY=VALUE as one word: the value is taken literally, never expanded
        # shellcheck disable=SC2163
        export "$line"
        ;;
    esac
  done < "$secrets"
fi
exec "$@"
