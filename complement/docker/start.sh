#!/bin/sh
# Entry point of complement/Dockerfile: configures this homeserver for the
# name Complement gives it (SERVER_NAME), with a TLS certificate signed by
# Complement's CA (/complement/ca), then runs it. Safe to run again on the
# same /data: the config and certificate are rewritten, the data is kept.
set -eu

SERVER_NAME=${SERVER_NAME:-localhost}
DATA=${COMPLEMENT_DATA_DIR:-/data}
CA_CERT=/complement/ca/ca.crt
CA_KEY=/complement/ca/ca.key
mkdir -p "$DATA/server"

if [ -f "$CA_CERT" ] && [ -f "$CA_KEY" ]; then
  # A certificate for SERVER_NAME signed by Complement's CA (a new CA each run, so made on every start).
  openssl req -new -newkey rsa:2048 -nodes -sha256 \
    -keyout "$DATA/tls.key" -out "$DATA/tls.csr" -subj "/CN=$SERVER_NAME" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$SERVER_NAME" > "$DATA/tls.ext"
  openssl x509 -req -in "$DATA/tls.csr" -CA "$CA_CERT" -CAkey "$CA_KEY" -CAcreateserial \
    -CAserial "$DATA/ca.srl" -out "$DATA/tls.crt" -days 2 -sha256 -extfile "$DATA/tls.ext" 2>/dev/null
  TRUSTED="[\"$CA_CERT\"]"
else
  # No CA mounted (a manual run): a self-signed certificate, and outbound TLS not verified.
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 \
    -keyout "$DATA/tls.key" -out "$DATA/tls.crt" -subj "/CN=$SERVER_NAME" \
    -addext "subjectAltName=DNS:$SERVER_NAME" 2>/dev/null
  TRUSTED="[]"
fi

cat > "$DATA/homeserver.yaml" <<YAML
server_name: "$SERVER_NAME"
data_dir: "$DATA/server"
bind_address: "0.0.0.0"
port: 8008
default_room_version: "10"
database:
  engine: sqlite
  sqlite_synchronous: normal
registration:
  enabled: true
  shared_secret: "complement"
media:
  url_preview_enabled: true
  url_preview_allow_private_addresses: true
rate_limits:
  message: { per_second: 0, burst: 1 }
  login: { per_second: 0, burst: 1 }
  registration: { per_second: 0, burst: 1 }
federation:
  enabled: true
  tls_port: 8448
  tls_certificate_path: "$DATA/tls.crt"
  tls_private_key_path: "$DATA/tls.key"
  trusted_ca_paths: $TRUSTED
  verify_tls: $( [ "$TRUSTED" = "[]" ] && echo false || echo true )
  allow_private_addresses: true
  request_timeout_ms: 10000
  retry_initial_ms: 200
  retry_max_ms: 2000
push:
  allow_private_addresses: true
  require_https: false
  retry_initial_ms: 200
  retry_max_ms: 2000
  expand_delay_ms: 10
log_level: "${COMPLEMENT_LOG_LEVEL:-info}"
YAML

exec node /pimatrix/dist/src/main.js start --config "$DATA/homeserver.yaml"
