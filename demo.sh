#!/usr/bin/env bash
# The demo: builds the project (tests skipped), then runs examples' Demo on an embedded MiniCluster
# with its own S3 server. Needs Java 17 and Maven only.
set -euo pipefail
cd "$(dirname "$0")"
echo "Building (the first run downloads dependencies: a few minutes) ..."
mvn -B -q install -DskipTests -Dmaven.javadoc.skip=true -Dmaven.source.skip=true -pl examples -am
mvn -B -q -pl examples dependency:build-classpath -Dmdep.includeScope=compile -Dmdep.excludeClassifiers=tests -Dmdep.outputFile=target/demo.classpath
rm -f examples/target/demo.log
exec java -Xmx2g -Ddemo.log.file="$PWD/examples/target/demo.log" -Dlog4j.configurationFile=examples/target/classes/log4j2.properties \
  -cp "examples/target/classes:$(cat examples/target/demo.classpath)" io.github.s3tiered.examples.Demo "$@"
