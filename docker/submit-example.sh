#!/usr/bin/env bash
# Runs the recovery example on the docker compose cluster (docker/compose.yaml), the way an
# operator would:
#   1. upload the example job jar and start the job (REST API of the JobManager);
#   2. after a few checkpoints, cancel it (the checkpoints are retained on cancellation);
#   3. check the job's checkpoints with the recovery inspector and ask it for the restore point;
#   4. resume the job from that checkpoint (execution.state-recovery.path) and let it finish;
#   5. count the per-key results (one line per key when the state is complete).
#
# Needs: curl; the cluster up (docker compose -f docker/compose.yaml up -d --scale taskmanager=2);
# the jars built (mvn -B package -DskipTests). Settings (environment variables, defaults below):
#   FLINK_REST        JobManager REST endpoint             http://localhost:8081
#   JOB_JAR           the example job jar                  cluster-tests/target/s3tiered-example-job.jar
#   RECORDS, KEYS, RATE                                    200000, 20000, 10000 (records/s)
# S3_BUCKET: from the shell, else from docker/.env.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

# docker/.env supplies what the shell does not set (the same values docker compose uses).
while IFS='=' read -r key value; do
  case "$key" in ''|'#'*) continue ;; esac
  if [ -z "${!key:-}" ]; then export "$key=$value"; fi
done < "$here/.env"

REST="${FLINK_REST:-http://localhost:8081}"
JOB_JAR="${JOB_JAR:-$root/cluster-tests/target/s3tiered-example-job.jar}"
RECORDS="${RECORDS:-200000}"
KEYS="${KEYS:-20000}"
RATE="${RATE:-10000}"
ENTRY_CLASS=io.github.s3tiered.examples.StateRecoveryExample
JOB_DIR_BASE="s3tiered://${S3_BUCKET}/checkpoints"
RUN="run-$(date +%Y%m%d-%H%M%S)"
OUTPUT_DIR=/tmp/s3tiered-example   # the example-output volume, shared by the TaskManagers
if [ -z "${COMPOSE:-}" ]; then
  if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE="docker-compose"; fi
fi

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The value of a top-level string field of a JSON document (no jq needed).
json_field() { sed -n "s/.*\"$1\" *: *\"\\([^\"]*\\)\".*/\\1/p" | head -n1; }

job_state() { curl -sf "$REST/jobs/$1/status" | json_field status; }

completed_checkpoints() {
  curl -sf "$REST/jobs/$1/checkpoints" | sed -n 's/.*"completed" *: *\([0-9][0-9]*\).*/\1/p' | head -n1
}

await_state() { # job, wanted state, timeout seconds
  local state=""
  for _ in $(seq 1 "$3"); do
    state="$(job_state "$1" || true)"
    [ "$state" = "$2" ] && return 0
    case "$state" in FAILED|CANCELED|FINISHED) [ "$state" != "$2" ] && die "job $1 is $state, expected $2" ;; esac
    sleep 1
  done
  die "job $1 did not reach $2 within $3 s (last state: ${state:-unknown})"
}

submit() { # output dir, restore path (may be empty); prints the job id
  local args config=""
  args="\"--use-cluster-config\",\"--output\",\"$1\",\"--records\",\"$RECORDS\",\"--keys\",\"$KEYS\",\"--rate\",\"$RATE\",\"--fail-after\",\"0\""
  if [ -n "$2" ]; then
    config=",\"flinkConfiguration\":{\"execution.state-recovery.path\":\"$2\"}"
  fi
  curl -sf -X POST -H 'Content-Type: application/json' \
    -d "{\"entryClass\":\"$ENTRY_CLASS\",\"programArgsList\":[$args]$config}" \
    "$REST/jars/$JAR_ID/run" | json_field jobid
}

[ -f "$JOB_JAR" ] || die "no job jar at $JOB_JAR: run 'mvn -B package -DskipTests' first"

log "waiting for the JobManager at $REST"
for _ in $(seq 1 120); do
  slots="$(curl -sf "$REST/overview" | sed -n 's/.*"slots-total" *: *\([0-9]*\).*/\1/p' || true)"
  [ "${slots:-0}" -ge 2 ] && break
  sleep 1
done
[ "${slots:-0}" -ge 2 ] || die "the cluster has ${slots:-no} task slots; start it with --scale taskmanager=2"

log "uploading $JOB_JAR"
JAR_ID="$(basename "$(curl -sf -X POST -H 'Expect:' -F "jarfile=@$JOB_JAR" "$REST/jars/upload" | json_field filename)")"
[ -n "$JAR_ID" ] || die "upload failed"

JOB="$(submit "$OUTPUT_DIR/$RUN-first" "")"
[ -n "$JOB" ] || die "submission failed"
log "job $JOB started: $RECORDS records, $KEYS keys, $RATE records/s"

for _ in $(seq 1 120); do
  n="$(completed_checkpoints "$JOB" || true)"
  [ "${n:-0}" -ge 3 ] && break
  sleep 1
done
[ "${n:-0}" -ge 3 ] || die "job $JOB completed ${n:-no} checkpoints in 120 s"

log "$n checkpoints completed; cancelling job $JOB (its checkpoints are retained)"
curl -sf -X PATCH "$REST/jobs/$JOB?mode=cancel" >/dev/null
await_state "$JOB" CANCELED 60

JOB_CHECKPOINTS="$JOB_DIR_BASE/$JOB"
# The inspector inside the JobManager's container, as on Kubernetes (kubectl exec): the image's Flink,
# plugins and configuration (S3 endpoint and credentials included), nothing installed on this host.
inspector() { $COMPOSE -f "$here/compose.yaml" exec -T jobmanager recovery-inspector "$@"; }
log "recovery-inspector validate $JOB_CHECKPOINTS"
inspector validate "$JOB_CHECKPOINTS"
log "recovery-inspector restore-point $JOB_CHECKPOINTS"
RESTORE="$(inspector restore-point "$JOB_CHECKPOINTS" | grep -v '^ *$' | tail -n1)"
[ -n "$RESTORE" ] || die "no restore point for $JOB_CHECKPOINTS"

RESUMED="$(submit "$OUTPUT_DIR/$RUN-resumed" "$RESTORE")"
[ -n "$RESUMED" ] || die "resubmission failed"
log "job $RESUMED resumes from $RESTORE"
await_state "$RESUMED" FINISHED 600

lines="$($COMPOSE -f "$here/compose.yaml" exec -T taskmanager \
  sh -c "cat $OUTPUT_DIR/$RUN-resumed/results-*.csv | wc -l" | tr -d '[:space:]')"
log "job $RESUMED finished: $lines result lines for $KEYS keys"
[ "$lines" = "$KEYS" ] || die "expected one result line per key"
