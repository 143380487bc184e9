#!/usr/bin/env bash
# recovery-inspector: validates Flink checkpoints and savepoints, finds the restore point and orphaned
# files (see flink-recovery-inspector/README.md). Runs the inspector's runnable jar with Java 17 beside
# a Flink installation, whose lib/ (classes), plugins/ and conf/ it uses: --flink-home DIR or
# $FLINK_HOME. Examples:
#   FLINK_HOME=/opt/flink ./recovery-inspector.sh restore-point s3tiered://bucket/checkpoints/<job-id>
#   ./recovery-inspector.sh validate --flink-home /opt/flink s3tiered://bucket/checkpoints/<job-id>/chk-42
# The jar: $RECOVERY_INSPECTOR_JAR, else one beside this script, in $FLINK_HOME/opt/ (the s3tiered
# image), or built in this checkout (mvn -B package -DskipTests). JAVA_OPTS: options for the JVM.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
jar="${RECOVERY_INSPECTOR_JAR:-}"
if [ -z "$jar" ]; then
  for place in "$here" ${FLINK_HOME:+"$FLINK_HOME"/opt}; do
    found=("$place"/flink-recovery-inspector-*-cli.jar)
    if [ ${#found[@]} -gt 1 ]; then
      echo "recovery-inspector: more than one inspector jar in $place (${found[*]}): set RECOVERY_INSPECTOR_JAR to the" \
        "one of your Flink line" >&2
      exit 2
    fi
    if [ -f "${found[0]}" ]; then jar="${found[0]}"; break; fi
  done
fi
if [ -z "$jar" ]; then
  built=("$here"/flink-recovery-inspector/target/flink-recovery-inspector-*-flink2.3-cli.jar)
  if [ -f "${built[0]}" ]; then jar="${built[0]}"; fi
fi
if [ -z "$jar" ] || [ ! -f "$jar" ]; then
  echo "recovery-inspector: no inspector jar (flink-recovery-inspector-<version>-flink<line>-cli.jar): set" \
    "RECOVERY_INSPECTOR_JAR, or build it in this checkout with: mvn -B package -DskipTests" >&2
  exit 2
fi
# shellcheck disable=SC2086
exec java ${JAVA_OPTS:-} -jar "$jar" "$@"
