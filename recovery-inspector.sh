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
# The inspector's exit code 1 means "not restorable" only: a JVM that cannot start (a Java older than
# 17, a bad option in JAVA_OPTS) would exit 1 too, so it is tried first and reported as an error (2).
java="java"
if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then java="$JAVA_HOME/bin/java"; fi
# shellcheck disable=SC2086
if ! version="$("$java" ${JAVA_OPTS:-} -version 2>&1)"; then
  echo "recovery-inspector: $java does not start with JAVA_OPTS='${JAVA_OPTS:-}': $version" >&2
  exit 2
fi
major=""
version_line=""
while IFS= read -r line; do
  if [[ $line =~ \ version\ \"(1\.)?([0-9]+) ]]; then
    major="${BASH_REMATCH[2]}"
    version_line="$line"
    break
  fi
done <<< "$version"
if [ -z "$major" ] || [ "$major" -lt 17 ]; then
  echo "recovery-inspector: needs Java 17 or later; $java is: ${version_line:-$version}" \
    "(set JAVA_HOME to a Java 17 installation)" >&2
  exit 2
fi
if [ "$(head -c 2 "$jar")" != "PK" ]; then
  echo "recovery-inspector: $jar is not a jar (a download cut short?)" >&2
  exit 2
fi
# shellcheck disable=SC2086
exec "$java" ${JAVA_OPTS:-} -jar "$jar" "$@"
