#!/usr/bin/env bash
# gsutil against the GCP emulator, through a loopback TLS front (../go/tlsproxy.go): gsutil's JSON
# API client always uses https (gslib/gcs_json_api.py GcsJsonApi.__init__: http_base = 'https://')
# and refuses Boto is_secure=False. Its CA goes in Boto:ca_certificates_file.
#
# Boto options (-o Section:option=value; BOTO_CONFIG is an empty private file):
#   Credentials:gs_json_host / gs_json_port   the TLS front
#   Credentials:gs_service_key_file           the owner's key
#   OAuth2:provider_token_uri                 the emulator's /token: gsutil ignores the key file's
#                                             token_uri (gslib/gcs_json_credentials.py
#                                             _GetOauth2ServiceAccountCredentials uses provider_token_uri)
#   GSUtil:prefer_api=json, GSUtil:use_gcloud_storage=False (real gsutil, not the gcloud shim)
# CLOUDSDK_CORE_PASS_CREDENTIALS_TO_GSUTIL=false keeps the gcloud wrapper from injecting its own credentials.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if ! command -v gsutil >/dev/null 2>&1; then
  result SKIP gsutil "gsutil is not installed (looked on PATH)"
  exit 0
fi
proxy_bin=${CONF_BIN:?}/conformance
if [ ! -x "$proxy_bin" ]; then
  result SKIP gsutil "the TLS front ($proxy_bin) was not built; gsutil cannot reach a plain-HTTP endpoint"
  exit 0
fi

work=${CONF_WORK:?}/gsutil
mkdir -p "$work/config"
"$proxy_bin" tlsproxy "$CONF_GCP_ENDPOINT" "$work/ca.pem" "$work/port" 2>"$work/proxy.err" &
proxy_pid=$!
trap 'kill "$proxy_pid" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
if [ ! -s "$work/port" ]; then
  result FAIL gsutil.tls-front "did not start: $(cat "$work/proxy.err")"
  exit 0
fi
port=$(cat "$work/port")

export CLOUDSDK_CONFIG=$work/config BOTO_CONFIG=$work/boto BOTO_PATH=$work/boto
: >"$BOTO_CONFIG"
export CLOUDSDK_CORE_PASS_CREDENTIALS_TO_GSUTIL=false CLOUDSDK_CORE_DISABLE_PROMPTS=1
export CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1 CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=1
unset STORAGE_EMULATOR_HOST
opts=(
  -o "Credentials:gs_json_host=127.0.0.1" -o "Credentials:gs_json_port=$port"
  -o "Credentials:gs_service_key_file=$CONF_ADMIN_KEY_FILE"
  -o "OAuth2:provider_token_uri=$CONF_GCP_ENDPOINT/token"
  -o "Boto:ca_certificates_file=$work/ca.pem"
  -o "GSUtil:prefer_api=json" -o "GSUtil:use_gcloud_storage=False"
  -o "GSUtil:default_project_id=$CONF_PROJECT"
  -o "GSUtil:state_dir=$work/state"
)
gs() { run 120 gsutil "${opts[@]}" "$@"; }

b=conf-gsutil-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
printf 'hello from gsutil %s\n' "$b" >"$work/small.txt"
printf 'nested object %s\n' "$b" >"$work/nested.txt"

gs mb "gs://$b"
if [ "$RC" != 0 ]; then
  result FAIL gsutil.mb "exit $RC: $(tail_out)"
  exit 0
fi
result PASS gsutil.mb "gs://$b"

gs cp "$work/small.txt" "gs://$b/top.txt"
if [ "$RC" = 0 ]; then result PASS gsutil.cp-up "top.txt (non-resumable: multipart/related)"; else result FAIL gsutil.cp-up "exit $RC: $(tail_out)"; fi

# Forced resumable (GSUtil:resumable_threshold=1), so the read checks have an object either way.
run 120 gsutil "${opts[@]}" -o "GSUtil:resumable_threshold=1" cp "$work/nested.txt" "gs://$b/dir/nested.txt"
if [ "$RC" = 0 ]; then result PASS gsutil.cp-up-resumable "dir/nested.txt"; else result FAIL gsutil.cp-up-resumable "exit $RC: $(tail_out)"; fi

gs ls "gs://$b"
if [ "$RC" = 0 ] && grep -qx "gs://$b/dir/" <<<"$OUT" && ! grep -qx "gs://$b/dir/nested.txt" <<<"$OUT"; then
  result PASS gsutil.ls "$(tr '\n' ' ' <<<"$OUT")"
else
  result FAIL gsutil.ls "exit $RC; want a line gs://$b/dir/ and no gs://$b/dir/nested.txt; got: $(tail_out 6)"
fi

gs ls "gs://$b/dir/"
if [ "$RC" = 0 ] && grep -qx "gs://$b/dir/nested.txt" <<<"$OUT"; then
  result PASS gsutil.ls-prefix "$(tr '\n' ' ' <<<"$OUT")"
else
  result FAIL gsutil.ls-prefix "exit $RC; want gs://$b/dir/nested.txt; got: $(tail_out)"
fi

gs cat "gs://$b/dir/nested.txt"
if [ "$RC" = 0 ] && [ "$OUT" = "$(cat "$work/nested.txt")" ]; then
  result PASS gsutil.cat "content equal"
else
  result FAIL gsutil.cat "exit $RC: $(tail_out)"
fi

gs cp "gs://$b/dir/nested.txt" "$work/down.txt"
if [ "$RC" = 0 ] && cmp -s "$work/down.txt" "$work/nested.txt"; then
  result PASS gsutil.cp-down "content equal"
else
  result FAIL gsutil.cp-down "exit $RC: $(tail_out)"
fi

gs rm -r "gs://$b"
if [ "$RC" = 0 ]; then result PASS gsutil.rm-r "bucket and objects removed"; else result FAIL gsutil.rm-r "exit $RC: $(tail_out)"; fi
exit 0
