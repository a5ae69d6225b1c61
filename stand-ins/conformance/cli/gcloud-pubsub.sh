#!/usr/bin/env bash
# `gcloud pubsub` (REST, apitools) against the GCP emulator's export subscriptions: a Cloud Storage
# subscription is refused at create while the Pub/Sub service agent has no grant on the bucket, made once
# it has, and writes what `gcloud pubsub topics publish` sent into one text file named
# <prefix><UTC time>_<uuid><suffix> after its max duration (docs/pubsub-exports.md §2–3); a BigQuery
# subscription made by gcloud writes what was published as rows of a table (made over REST with gcloud's
# token, the service agent a WRITER of its dataset), counted over REST.
#
# Pointing: as gcloud.sh, plus CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB=<endpoint>/ (api_endpoint_overrides/pubsub).
# Env: CONF_WORK, CONF_GCP_ENDPOINT, CONF_ADMIN_KEY_FILE, CONF_PROJECT, CONF_AGENT (the project's Pub/Sub service agent).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if ! command -v gcloud >/dev/null 2>&1; then
  result SKIP gcloud-pubsub.exports "gcloud is not installed (looked on PATH)"
  exit 0
fi

work=${CONF_WORK:?}/gcloud-pubsub
mkdir -p "$work/config"
export CLOUDSDK_CONFIG=$work/config
export CLOUDSDK_CORE_DISABLE_PROMPTS=1 CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=1
export CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1 CLOUDSDK_CORE_PROJECT=$CONF_PROJECT
export CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE=$CONF_GCP_ENDPOINT/storage/v1/
export CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB=$CONF_GCP_ENDPOINT/
export CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE=$CONF_ADMIN_KEY_FILE
export CLOUDSDK_AUTH_TOKEN_HOST=$CONF_GCP_ENDPOINT/token
export CLOUDSDK_AUTH_SERVICE_ACCOUNT_DISABLE_ID_TOKEN_REFRESH=true
unset STORAGE_EMULATOR_HOST PUBSUB_EMULATOR_HOST

id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
b=conf-export-$id
t=conf-export-$id
agent=serviceAccount:${CONF_AGENT:?}

run 120 gcloud storage buckets create "gs://$b" --uniform-bucket-level-access
[ "$RC" = 0 ] || { result FAIL gcloud-pubsub.setup "bucket: exit $RC: $(tail_out)"; exit 0; }
run 120 gcloud pubsub topics create "$t"
[ "$RC" = 0 ] || { result FAIL gcloud-pubsub.setup "topic: exit $RC: $(tail_out)"; exit 0; }

gcs_sub() {
  run 120 gcloud pubsub subscriptions create "$t-gcs" --topic "$t" --cloud-storage-bucket="$b" \
    --cloud-storage-file-prefix=conf/ --cloud-storage-file-suffix=.ndjson --cloud-storage-max-duration=1m
}

gcs_sub
if [ "$RC" != 0 ] && grep -qi "permission" <<<"$OUT"; then
  result PASS gcloud-pubsub.gcs-create-refused "no grant for the service agent: exit $RC: $(tail_out 2)"
else
  result FAIL gcloud-pubsub.gcs-create-refused "want a refusal naming the permission; exit $RC: $(tail_out)"
fi

for role in roles/storage.objectCreator roles/storage.legacyBucketReader; do
  # A read-modify-write of the bucket's policy: a 412 (the policy changed between gcloud's read and write)
  # is retried as IAM asks; each retry is reported. (The one 412 a CI run saw here was the stand-in's: it
  # compared etags as text, and gcloud sends a bytes field's base64 back url-safe; stand-ins/gcp/policy.ts sameEtag.)
  for try in 1 2 3; do
    run 120 gcloud storage buckets add-iam-policy-binding "gs://$b" --member="$agent" --role="$role"
    [ "$RC" != 0 ] && grep -q "412" <<<"$OUT" && [ "$try" != 3 ] && { printf 'INFO gcloud-pubsub.grant: %s: 412, retry %s\n' "$role" "$try"; continue; }
    break
  done
  [ "$RC" = 0 ] || { result FAIL gcloud-pubsub.grant "$role: exit $RC: $(tail_out)"; exit 0; }
done
gcs_sub
if [ "$RC" = 0 ]; then result PASS gcloud-pubsub.gcs-create "$t-gcs into gs://$b/conf/"; else
  result FAIL gcloud-pubsub.gcs-create "exit $RC: $(tail_out)"
  exit 0
fi

run 60 gcloud pubsub subscriptions describe "$t-gcs" --format='value(cloudStorageConfig.state,cloudStorageConfig.maxDuration,cloudStorageConfig.filenamePrefix)'
if [ "$RC" = 0 ] && [ "$(tr -s '\t ' ' ' <<<"$OUT")" = "ACTIVE 60s conf/" ]; then result PASS gcloud-pubsub.gcs-describe "$OUT"; else
  result FAIL gcloud-pubsub.gcs-describe "want 'ACTIVE 60s conf/'; exit $RC: $(tail_out)"
fi

run 60 gcloud pubsub topics publish "$t" --message='{"event_type":"user.added"}'
run 60 gcloud pubsub topics publish "$t" --message='{"event_type":"user.removed"}'
# The file closes after the max duration (1 minute, the least Pub/Sub takes): poll for it.
found=""
for _ in $(seq 45); do
  run 60 gcloud storage ls "gs://$b/conf/"
  if [ "$RC" = 0 ] && grep -q '\.ndjson$' <<<"$OUT"; then found=$(grep '\.ndjson$' <<<"$OUT" | head -n 1); break; fi
  sleep 2
done
if [ -n "$found" ] && grep -Eq "^gs://$b/conf/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\+00:00_[0-9a-f-]{36}\.ndjson$" <<<"$found"; then
  run 60 gcloud storage cat "$found"
  want=$'{"event_type":"user.added"}\n{"event_type":"user.removed"}'
  if [ "$OUT" = "$want" ]; then result PASS gcloud-pubsub.gcs-file "$found: the two messages, one per line"; else
    result FAIL gcloud-pubsub.gcs-file "$found holds: $OUT"
  fi
else
  result FAIL gcloud-pubsub.gcs-file "no file named <prefix><time>_<uuid><suffix> within 90 s: ${found:-none}"
fi

# A BigQuery subscription's flags as gcloud sends them: the table must exist, so a missing one is refused (404).
run 60 gcloud pubsub subscriptions create "$t-bq" --topic "$t" --bigquery-table="$CONF_PROJECT:nodataset.events" --use-table-schema --write-metadata --drop-unknown-fields
if [ "$RC" != 0 ] && grep -qi "not found" <<<"$OUT"; then result PASS gcloud-pubsub.bq-create-missing-table "exit $RC: $(tail_out 2)"; else
  result FAIL gcloud-pubsub.bq-create-missing-table "want NOT_FOUND for a missing table; exit $RC: $(tail_out)"
fi

# A BigQuery subscription that works: the dataset and table made over BigQuery's REST API with gcloud's own
# token (gcloud has no BigQuery commands; bq needs its own set-up), the agent a WRITER of the dataset.
token=$(gcloud auth print-access-token 2>/dev/null || true)
bq_rest() { # METHOD PATH [JSON]
  curl -sS -X "$1" -H "authorization: Bearer $token" -H "content-type: application/json" ${3:+--data "$3"} "$CONF_GCP_ENDPOINT/bigquery/v2/projects/$CONF_PROJECT$2"
}
ds=conf_export_$id
bq_rest POST /datasets "{\"datasetReference\":{\"projectId\":\"$CONF_PROJECT\",\"datasetId\":\"$ds\"},\"access\":[{\"role\":\"OWNER\",\"specialGroup\":\"projectOwners\"},{\"role\":\"WRITER\",\"iamMember\":\"$agent\"}]}" >"$work/ds.json"
bq_rest POST "/datasets/$ds/tables" "{\"tableReference\":{\"projectId\":\"$CONF_PROJECT\",\"datasetId\":\"$ds\",\"tableId\":\"events\"},\"schema\":{\"fields\":[{\"name\":\"event_type\",\"type\":\"STRING\"},{\"name\":\"subscription_name\",\"type\":\"STRING\"},{\"name\":\"message_id\",\"type\":\"STRING\"},{\"name\":\"publish_time\",\"type\":\"TIMESTAMP\"},{\"name\":\"attributes\",\"type\":\"JSON\"}]}}" >"$work/table.json"
if ! grep -q '"tableId"' "$work/table.json"; then
  result FAIL gcloud-pubsub.bq-setup "dataset or table not made: $(cat "$work/ds.json" "$work/table.json" | tr -d '\n' | cut -c1-300)"
  exit 0
fi
run 60 gcloud pubsub topics create "$t-bq-topic"
run 60 gcloud pubsub subscriptions create "$t-bq" --topic "$t-bq-topic" --bigquery-table="$CONF_PROJECT:$ds.events" --use-table-schema --write-metadata --drop-unknown-fields
if [ "$RC" = 0 ]; then result PASS gcloud-pubsub.bq-create "$t-bq into $CONF_PROJECT:$ds.events"; else
  result FAIL gcloud-pubsub.bq-create "exit $RC: $(tail_out)"
  exit 0
fi
run 60 gcloud pubsub subscriptions describe "$t-bq" --format='value(bigqueryConfig.state,bigqueryConfig.useTableSchema,bigqueryConfig.writeMetadata)'
if [ "$(tr -s '\t ' ' ' <<<"$OUT")" = "ACTIVE True True" ]; then result PASS gcloud-pubsub.bq-describe "$OUT"; else
  result FAIL gcloud-pubsub.bq-describe "want 'ACTIVE True True'; exit $RC: $(tail_out)"
fi
run 60 gcloud pubsub topics publish "$t-bq-topic" --message='{"event_type":"user.added","unknown":1}'
run 60 gcloud pubsub topics publish "$t-bq-topic" --message='{"event_type":"user.removed"}'
rows=""
for _ in $(seq 20); do
  rows=$(bq_rest POST /queries "{\"query\":\"SELECT event_type, subscription_name FROM \`$CONF_PROJECT.$ds.events\` ORDER BY event_type\",\"useLegacySql\":false}" | tr -d ' \n')
  grep -q 'user.removed' <<<"$rows" && break
  sleep 1
done
if grep -q '"v":"user.added"' <<<"$rows" && grep -q '"v":"user.removed"' <<<"$rows" && grep -q "\"v\":\"projects/$CONF_PROJECT/subscriptions/$t-bq\"" <<<"$rows"; then
  result PASS gcloud-pubsub.bq-rows "both messages are rows (the unknown field dropped), with the subscription's name"
else
  result FAIL gcloud-pubsub.bq-rows "rows: $(cut -c1-400 <<<"$rows")"
fi
