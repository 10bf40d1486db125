#!/bin/sh
# api/openapi.yaml is a valid OpenAPI 3.0 document: swagger-cli checks it
# against the specification's JSON schema (a YAML slip such as an unquoted
# comma in a flow mapping makes a stray key, which the schema refuses) and
# resolves every $ref. scripts/install-deps.sh installs it.
# Usage: openapi_lint.sh DOCUMENT
lint=${SIPVSD_SWAGGER_CLI:-/opt/sipvsd-dev/openapi-lint/node_modules/.bin/swagger-cli}
if [ ! -x "$lint" ]; then
  echo "openapi_lint: $lint is missing: run scripts/install-deps.sh" >&2
  exit 1
fi
exec "$lint" validate "$1"
