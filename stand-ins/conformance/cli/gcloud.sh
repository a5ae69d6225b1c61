#!/usr/bin/env bash
# `gcloud storage` against the GCP emulator.
#
# Pointing (googlecloudsdk property overrides, all through environment variables, in a private
# CLOUDSDK_CONFIG so nothing of the machine's gcloud set-up is used or changed):
#   CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE=<endpoint>/storage/v1/   (api_endpoint_overrides/storage)
#   CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE=<key file>                (auth/credential_file_override)
#   CLOUDSDK_AUTH_TOKEN_HOST=<endpoint>/token                        (auth/token_host)
#     needed: with credential_file_override gcloud replaces the key file's token_uri by
#     auth_util.GetTokenUri() (https://oauth2.googleapis.com/token) unless auth/token_host is set
#     (lib/googlecloudsdk/core/credentials/store.py, the credential-file-override branch).
#   CLOUDSDK_AUTH_SERVICE_ACCOUNT_DISABLE_ID_TOKEN_REFRESH=true      (no ID-token request)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if ! command -v gcloud >/dev/null 2>&1; then
  result SKIP gcloud.storage "gcloud is not installed (looked on PATH)"
  exit 0
fi

work=${CONF_WORK:?}/gcloud
mkdir -p "$work/config"
export CLOUDSDK_CONFIG=$work/config
export CLOUDSDK_CORE_DISABLE_PROMPTS=1 CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=1
export CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1 CLOUDSDK_CORE_PROJECT=$CONF_PROJECT
export CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE=$CONF_GCP_ENDPOINT/storage/v1/
export CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE=$CONF_ADMIN_KEY_FILE
export CLOUDSDK_AUTH_TOKEN_HOST=$CONF_GCP_ENDPOINT/token
export CLOUDSDK_AUTH_SERVICE_ACCOUNT_DISABLE_ID_TOKEN_REFRESH=true
unset STORAGE_EMULATOR_HOST

b=conf-gcloud-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
printf 'hello from gcloud %s\n' "$b" >"$work/small.txt"
printf 'nested object %s\n' "$b" >"$work/nested.txt"

run 120 gcloud storage buckets create "gs://$b"
if [ "$RC" != 0 ]; then
  result FAIL gcloud.buckets-create "exit $RC: $(tail_out)"
  exit 0
fi
result PASS gcloud.buckets-create "gs://$b"

# A small file: gcloud sends it as one multipart/related request.
run 120 gcloud storage cp "$work/small.txt" "gs://$b/top.txt"
if [ "$RC" = 0 ]; then result PASS gcloud.cp-up "top.txt (multipart upload)"; else result FAIL gcloud.cp-up "exit $RC: $(tail_out)"; fi

# The same path forced resumable (storage/resumable_threshold = 0), so the read checks have an object either way.
CLOUDSDK_STORAGE_RESUMABLE_THRESHOLD=0 run 120 gcloud storage cp "$work/nested.txt" "gs://$b/dir/nested.txt"
if [ "$RC" = 0 ]; then result PASS gcloud.cp-up-resumable "dir/nested.txt"; else result FAIL gcloud.cp-up-resumable "exit $RC: $(tail_out)"; fi

# ls of the bucket root lists "directories" as prefixes (delimiter=/): gs://B/dir/ and not gs://B/dir/nested.txt.
run 120 gcloud storage ls "gs://$b"
if [ "$RC" = 0 ] && grep -qx "gs://$b/dir/" <<<"$OUT" && ! grep -qx "gs://$b/dir/nested.txt" <<<"$OUT"; then
  result PASS gcloud.ls "$(tr '\n' ' ' <<<"$OUT")"
else
  result FAIL gcloud.ls "exit $RC; want a line gs://$b/dir/ and no gs://$b/dir/nested.txt; got: $(tail_out 6)"
fi

run 120 gcloud storage ls "gs://$b/dir/"
if [ "$RC" = 0 ] && grep -qx "gs://$b/dir/nested.txt" <<<"$OUT"; then
  result PASS gcloud.ls-prefix "$(tr '\n' ' ' <<<"$OUT")"
else
  result FAIL gcloud.ls-prefix "exit $RC; want gs://$b/dir/nested.txt; got: $(tail_out)"
fi

run 120 gcloud storage cat "gs://$b/dir/nested.txt"
if [ "$RC" = 0 ] && [ "$OUT" = "$(cat "$work/nested.txt")" ]; then
  result PASS gcloud.cat "content equal"
else
  result FAIL gcloud.cat "exit $RC: $(tail_out)"
fi

run 120 gcloud storage cp "gs://$b/dir/nested.txt" "$work/down.txt"
if [ "$RC" = 0 ] && cmp -s "$work/down.txt" "$work/nested.txt"; then
  result PASS gcloud.cp-down "content equal"
else
  result FAIL gcloud.cp-down "exit $RC: $(tail_out)"
fi

run 120 gcloud storage rm -r "gs://$b"
if [ "$RC" = 0 ]; then result PASS gcloud.rm-r "bucket and objects removed"; else result FAIL gcloud.rm-r "exit $RC: $(tail_out)"; fi

# Resource Manager: `gcloud projects describe` is Cloud Resource Manager v1 projects.get, the call
# PubSubServiceAgent makes for the project number (api_endpoint_overrides/cloudresourcemanager).
export CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER=$CONF_GCP_ENDPOINT/
run 120 gcloud projects describe "$CONF_PROJECT" --format='value(projectNumber,lifecycleState)'
if [ "$RC" = 0 ] && grep -Eq '^[1-9][0-9]{11}[[:space:]]+ACTIVE$' <<<"$OUT"; then
  result PASS gcloud.projects-describe "$OUT"
else
  result FAIL gcloud.projects-describe "exit $RC; want '<12-digit number> ACTIVE'; got: $(tail_out)"
fi
# A project that does not exist: refused like one the caller may not see (403), and gcloud says so.
run 120 gcloud projects describe no-such-project-here
if [ "$RC" != 0 ] && grep -qi "permission" <<<"$OUT"; then
  result PASS gcloud.projects-describe-missing "$(tail_out 1)"
else
  result FAIL gcloud.projects-describe-missing "exit $RC; want a failure naming permission; got: $(tail_out)"
fi
exit 0
