#!/usr/bin/env bash
# recovery-inspector: validates Flink checkpoints and savepoints, finds the restore point and orphaned
# files (see flink-recovery-inspector/README.md). Needs Java 17 and Maven only: the first run builds
# the inspector and the s3tiered file-system plugin (a few minutes when dependencies are downloaded),
# later runs start at once. Examples:
#   ./recovery-inspector.sh list --flink-conf-dir /opt/flink/conf s3tiered://bucket/checkpoints
#   ./recovery-inspector.sh restore-point -D s3tiered.endpoint=http://127.0.0.1:9000 s3tiered://bucket/checkpoints/<job-id>
# Environment: FLINK_PLUGINS_DIR (default: the project's own plugin), FLINK_CONF_DIR, JAVA_OPTS,
# MVN (the Maven command, default mvn), RECOVERY_INSPECTOR_REBUILD=1 to force a rebuild.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")" && pwd)"
MODULE="$ROOT/flink-recovery-inspector"
CLASSPATH_FILE="$MODULE/target/recovery-inspector.classpath"
PLUGIN_JAR="$ROOT/flink-checkpoint-s3tiered/plugin/target/flink-checkpoint-s3tiered-0.1.0-SNAPSHOT-flink2.3-plugin.jar"
MVN="${MVN:-mvn}"

needs_build() {
  [ -n "${RECOVERY_INSPECTOR_REBUILD:-}" ] && return 0
  [ -f "$CLASSPATH_FILE" ] && [ -f "$PLUGIN_JAR" ] && [ -d "$MODULE/target/classes" ] || return 0
  # sources changed since the last build
  [ -n "$(find "$MODULE/pom.xml" "$MODULE/src" "$ROOT/flink-checkpoint-s3tiered" -name target -prune \
      -o -newer "$CLASSPATH_FILE" -type f -print -quit 2>/dev/null)" ]
}

if needs_build; then
  echo "Building the recovery inspector and the s3tiered plugin ..." >&2
  (cd "$ROOT" && $MVN -B -q install -DskipTests -pl flink-recovery-inspector,flink-checkpoint-s3tiered/plugin -am) >&2
  # 'compile' scope includes 'provided' (Flink, RocksDB, log4j) and the optional picocli/Jackson
  (cd "$ROOT" && $MVN -B -q -pl flink-recovery-inspector dependency:build-classpath -Dmdep.includeScope=compile \
      -Dmdep.excludeClassifiers=tests -Dmdep.outputFile=target/recovery-inspector.classpath) >&2
  # the plugin leaves an unchanged file untouched: mark this build as the newest
  touch "$CLASSPATH_FILE"
fi

if [ -z "${FLINK_PLUGINS_DIR:-}" ]; then
  mkdir -p "$MODULE/target/plugins/s3tiered"
  rm -f "$MODULE/target/plugins/s3tiered/"*.jar  # one plugin jar: an older one beside it would shadow it
  cp "$PLUGIN_JAR" "$MODULE/target/plugins/s3tiered/"
  export FLINK_PLUGINS_DIR="$MODULE/target/plugins"
fi

# shellcheck disable=SC2086
exec java ${JAVA_OPTS:-} -cp "$MODULE/target/classes:$(cat "$CLASSPATH_FILE")" \
  io.github.s3tiered.inspector.cli.RecoveryInspector "$@"
