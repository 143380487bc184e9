#!/usr/bin/env bash
# Runs a benchmark and prints its table. Builds what it needs first (tests skipped).
#   bash benchmarks/run.sh fs [--size-mib 256] [--rounds 3]    file-system throughput (s3tiered vs presto vs native)
#   bash benchmarks/run.sh inspector [--files 1000,10000] [--s3-server memory]  recovery inspector: validation time and S3 requests
#   bash benchmarks/run.sh checkpoint [--keys 500000] [--state list|value] [--only s3tiered,file] [--fault-rate 0.1]  a stateful job's checkpoints and restores (s3tiered vs file:// vs presto vs native, each in a JVM of its own; --same-jvm for one JVM), optionally through failing S3
# --flink 1.20 runs it on the Flink 1.20 line (module flink-1.20/benchmarks; no flink-s3-fs-native there);
# the default is the 2.3 line. Every benchmark takes --profile loopback (default: S3Proxy as it is), wan (20 ms per response,
# 100 MiB/s per connection, 1 GiB/s in all, through a shaping proxy) or slow (100 ms, 20 MiB/s, 100 MiB/s); S3Proxy keeps its data on
# /dev/shm where there is one; --s3-server memory runs it with its objects in its heap (transient backend).
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-fs}"; shift || true
module=benchmarks
if [ "${1:-}" = "--flink" ]; then
  case "${2:-}" in
    2.3) ;;
    1.20) module=flink-1.20/benchmarks ;;
    *) echo "unknown Flink line '${2:-}' (expected: 2.3 or 1.20)" >&2; exit 2 ;;
  esac
  shift 2
fi
case "$which" in
  fs) main=io.github.s3tiered.bench.FileSystemBenchmark ;;
  checkpoint) main=io.github.s3tiered.bench.CheckpointBenchmark ;;
  inspector) main=io.github.s3tiered.bench.InspectorBenchmark ;;
  *) echo "unknown benchmark '$which' (expected: fs, checkpoint or inspector)" >&2; exit 2 ;;
esac
mvn -B -q -pl "$module" -am install -DskipTests -Dmaven.javadoc.skip=true -Dmaven.source.skip=true >&2
mvn -B -q -pl "$module" dependency:build-classpath -Dmdep.outputFile=target/bench.classpath -Dmdep.includeScope=runtime -Dmdep.excludeClassifiers=tests >&2
cp=$(cat "$module/target/bench.classpath")
exec java ${BENCH_JAVA_OPTS:-} -Xmx3g -Dlog4j.configurationFile="$module/target/classes/log4j2.properties" -Dbench.log="$PWD/$module/target/bench-$which.log" -Dbench.charts="$PWD/benchmarks/charts" -Dbench.plugins="$module/target/bench-plugins" -cp "$module/target/classes:$cp" "$main" "$@"
