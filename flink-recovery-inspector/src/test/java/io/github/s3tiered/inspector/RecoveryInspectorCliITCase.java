package io.github.s3tiered.inspector;

import io.github.s3tiered.inspector.cli.RecoveryInspector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The command line, run in this JVM on real checkpoints: exit codes, human and JSON output. */
class RecoveryInspectorCliITCase {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setConfiguration(clusterConfig())
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(CheckpointingJob.PARALLELISM)
            .build());

    @TempDir
    static java.nio.file.Path base;

    static CheckpointingJob.Result job;

    static Configuration clusterConfig() {
        Configuration conf = new Configuration();
        conf.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.parse("96m"));
        conf.setString("execution.checkpointing.num-retained", "3");
        return conf;
    }

    @BeforeAll
    static void makeCheckpoints(@InjectMiniCluster MiniCluster cluster) throws Exception {
        FileSystem.initialize(new Configuration(), null);
        job = CheckpointingJob.run(cluster, CheckpointingJob.config(base, Map.of()), false, 3, Duration.ofMillis(250), true);
    }

    record Run(int exit, String out, String err) {

        JsonNode json() throws Exception {
            return new ObjectMapper().readTree(out);
        }
    }

    static Run cli(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        List<String> all = new ArrayList<>(List.of(args));
        int code = RecoveryInspector.run(new PrintWriter(out, true), new PrintWriter(err, true), all.toArray(String[]::new));
        return new Run(code, out.toString(), err.toString());
    }

    private static String newest() {
        return RealCheckpointsITCase.newest(job).toUri().getPath();
    }

    private static String secondNewest() {
        return RealCheckpointsITCase.retained(job).get(1).toUri().getPath();
    }

    private static String jobDir() {
        return job.jobDir().toString();
    }

    @Test
    void listShowsEveryCheckpointAndTheSavepoint() throws Exception {
        Run table = cli("list", base.toString());
        assertThat(table.exit()).as(table.err()).isZero();
        assertThat(table.out()).contains("RESTORABLE", "SAVEPOINT", new Path(newest()).getName(), "File-system requests");

        Run json = cli("list", "--json", base.toString());
        assertThat(json.exit()).isZero();
        JsonNode doc = json.json();
        assertThat(doc.get("schemaVersion").asInt()).isEqualTo(2);
        assertThat(doc.get("command").asText()).isEqualTo("list");
        JsonNode cps = doc.get("jobs").get(0).get("checkpoints");
        assertThat(cps).hasSize(4);
        for (JsonNode cp : cps) {
            assertThat(cp.get("verdict").asText()).isEqualTo("RESTORABLE");
            assertThat(cp.get("referencedFiles").asInt()).isPositive();
            assertThat(cp.get("requests").get("total").asLong()).isPositive();
        }
    }

    @Test
    void validateExitsZeroWhenRestorableAndOneWithEveryProblemWhenNot() throws Exception {
        Run ok = cli("validate", newest());
        assertThat(ok.exit()).as(ok.err()).isZero();
        assertThat(ok.out()).contains("RESTORABLE");

        Run deep = cli("validate", "--deep", "--json", newest() + "/_metadata");
        assertThat(deep.exit()).isZero();
        JsonNode check = deep.json().get("checkpoints").get(0);
        assertThat(check.get("deepCheck").get("fileSystemRecordsChecksums").asBoolean()).isFalse();
        assertThat(check.get("deepCheck").get("summary").asText()).contains("not recorded");

        Validation intact = new CheckpointInspector(getClass().getClassLoader()).validate(new Path(newest()), false);
        List<ReferencedFile> victims = intact.files().stream().filter(f -> f.kinds().contains("keyed-private")).limit(2).toList();
        assertThat(victims).hasSize(2);
        try (Damage d = new Damage()) {
            d.delete(RealCheckpointsITCase.local(victims.get(0).path()));
            d.truncate(RealCheckpointsITCase.local(victims.get(1).path()), 1);
            Run bad = cli("validate", "--json", newest());
            assertThat(bad.exit()).isEqualTo(1);
            JsonNode v = bad.json().get("checkpoints").get(0);
            assertThat(v.get("verdict").asText()).isEqualTo("MISSING_FILES");
            assertThat(v.get("problems")).hasSize(2);
            assertThat(v.get("problems").findValuesAsText("verdict")).containsExactly("MISSING_FILES", "SIZE_MISMATCH");
            assertThat(v.get("problems").findValuesAsText("file")).containsExactlyInAnyOrder(
                    victims.get(0).path().toString(), victims.get(1).path().toString());

            Run human = cli("validate", newest());
            assertThat(human.exit()).isEqualTo(1);
            assertThat(human.out()).contains("MISSING_FILES", "SIZE_MISMATCH", victims.get(0).path().getName());

            // the job directory still has restorable checkpoints
            Run dir = cli("validate", jobDir());
            assertThat(dir.exit()).isZero();
            assertThat(dir.out()).contains("MISSING_FILES", "RESTORABLE");
        }
    }

    @Test
    void restorePointPrintsThePathAndExplainsSkippedCheckpoints() throws Exception {
        Run plain = cli("restore-point", jobDir());
        assertThat(plain.exit()).isZero();
        assertThat(plain.out().trim()).isEqualTo(new Path(newest()).toUri().getPath().isEmpty() ? "" : RealCheckpointsITCase.newest(job).toString());

        try (Damage d = new Damage()) {
            d.delete(java.nio.file.Path.of(newest(), "_metadata"));
            Run skipped = cli("restore-point", jobDir());
            assertThat(skipped.exit()).isZero();
            assertThat(skipped.out().trim()).isEqualTo(RealCheckpointsITCase.retained(job).get(1).toString());
            assertThat(skipped.err()).contains("skipped", "NO_METADATA", new Path(newest()).getName());

            Run json = cli("restore-point", "--json", "--include-savepoints", jobDir());
            assertThat(json.exit()).isZero();
            assertThat(json.json().get("restorePoint").asText()).contains("savepoint-");
            assertThat(json.json().get("kind").asText()).isEqualTo("SAVEPOINT");

            Run checkpointsOnly = cli("restore-point", "--json", jobDir());
            assertThat(checkpointsOnly.json().get("restorePoint").asText()).endsWith(new Path(secondNewest()).getName());
            assertThat(checkpointsOnly.json().get("skipped").get(0).get("verdict").asText()).isEqualTo("NO_METADATA");
        }

        // a lower id written after the newest: two runs under one job id, and no restore point
        String oldest = RealCheckpointsITCase.retained(job).get(2).toString();
        long newestWritten = java.nio.file.Files.getLastModifiedTime(java.nio.file.Path.of(newest(), "_metadata")).toMillis();
        try (Damage d = new Damage()) {
            d.touch(java.nio.file.Path.of(new Path(oldest).toUri().getPath(), "_metadata"), newestWritten + 60_000);
            Run disagree = cli("restore-point", jobDir());
            assertThat(disagree.exit()).isEqualTo(2);
            assertThat(disagree.out()).isEmpty();
            assertThat(disagree.err()).contains("Cannot choose a restore point", new Path(oldest).getName());
            Run json = cli("restore-point", "--json", jobDir());
            assertThat(json.json().get("restorePoint").isNull()).isTrue();
            assertThat(json.json().get("outcome").asText()).isEqualTo("UNKNOWN");
            assertThat(json.json().get("writtenLater").get(0).get("path").asText()).endsWith(new Path(oldest).getName());
        }

        // with --deep, what the rehearsal of the chosen checkpoint proved and what it could not
        Run deep = cli("restore-point", "--deep", "--json", jobDir());
        assertThat(deep.exit()).as(deep.err()).isZero();
        assertThat(deep.json().get("validation").get("verdict").asText()).isEqualTo("RESTORABLE");
        assertThat(deep.json().get("validation").get("deepCheck").get("filesRead").asLong()).isPositive();
        assertThat(deep.json().get("validation").get("deepCheck").has("notes")).isTrue();

        Run incompatible = cli("restore-point", "--operator-ids", "00000000000000000000000000000001", jobDir());
        assertThat(incompatible.exit()).isEqualTo(1);
        assertThat(incompatible.err()).contains("incompatible", "allowNonRestoredState");
    }

    @Test
    void describeListsOperatorsStateSizesAndFiles() throws Exception {
        Run json = cli("describe", "--json", newest());
        assertThat(json.exit()).isZero();
        JsonNode doc = json.json();
        assertThat(doc.get("operators").findValuesAsText("uid")).contains("count", "numbers");
        JsonNode count = null;
        for (JsonNode op : doc.get("operators")) {
            if ("count".equals(op.get("uid").asText())) {
                count = op;
            }
        }
        assertThat(count.get("parallelism").asInt()).isEqualTo(CheckpointingJob.PARALLELISM);
        assertThat(count.get("maxParallelism").asInt()).isPositive();
        assertThat(count.get("stateBytes").get("managedKeyed").asLong()).isPositive();
        assertThat(doc.get("checkpoint").get("files")).isNotEmpty();

        Run human = cli("describe", newest());
        assertThat(human.exit()).isZero();
        assertThat(human.out()).contains("OPERATOR ID", "count", "FILE", "keyed-shared");
    }

    @Test
    void orphansAreReportedThenDeletedOnlyWhenAsked() throws Exception {
        try (Damage d = new Damage()) {
            java.nio.file.Path leaked = d.create(job.jobDir().resolve("shared/leaked"), new byte[123], Duration.ofHours(3).toMillis());
            Run report = cli("orphans", "--json", jobDir());
            assertThat(report.exit()).isZero();
            JsonNode doc = report.json();
            assertThat(doc.get("orphans")).hasSize(1);
            assertThat(doc.get("orphans").get(0).get("path").asText()).endsWith("shared/leaked");
            assertThat(doc.get("orphans").get(0).get("bytes").asLong()).isEqualTo(123);
            assertThat(doc.get("deleted")).isEmpty();
            assertThat(leaked).exists();

            Run young = cli("orphans", "--min-age", "4h", jobDir());
            assertThat(young.exit()).isZero();
            assertThat(young.out()).contains("No orphans");

            Run delete = cli("orphans", "--delete", jobDir());
            assertThat(delete.exit()).isZero();
            assertThat(delete.out()).contains("Deleted 1");
            assertThat(leaked).doesNotExist();
        }
        Run after = cli("validate", jobDir());
        assertThat(after.exit()).isZero();
    }

    @Test
    void errorsNameThePathOrKeyAndExitTwoWithoutStackTrace() {
        Run missing = cli("validate", base.resolve("no-such-dir").toString());
        assertThat(missing.exit()).isEqualTo(2);
        assertThat(missing.err()).contains("no-such-dir").doesNotContain("\tat ");

        Run verbose = cli("validate", "--verbose", base.resolve("no-such-dir").toString());
        assertThat(verbose.exit()).isEqualTo(2);
        assertThat(verbose.err()).contains("\tat ");

        Run badConf = cli("list", "--flink-conf-dir", base.resolve("no-conf").toString(), base.toString());
        assertThat(badConf.exit()).isEqualTo(2);
        assertThat(badConf.err()).contains("no-conf");

        Run badAge = cli("orphans", "--min-age", "soon", jobDir());
        assertThat(badAge.exit()).isEqualTo(2);
        assertThat(badAge.err()).contains("--min-age", "soon");
        Run noUnit = cli("orphans", "--min-age", "2", "--delete", jobDir()); // meant as hours, would be 2 ms
        assertThat(noUnit.exit()).isEqualTo(2);
        assertThat(noUnit.err()).contains("--min-age", "give a unit");
        // a directory to read as well that is not there: nothing is deleted on a search that missed it
        Run alsoMissing = cli("orphans", "--delete", "--also-read", base.resolve("mistyped-cp").toString(), jobDir());
        assertThat(alsoMissing.exit()).as(alsoMissing.err()).isEqualTo(2);
        assertThat(alsoMissing.err()).contains("mistyped-cp");

        // a path of the wrong kind finds nothing, which must not read as "not restorable" (exit 1)
        Run baseDir = cli("restore-point", base.toString());
        assertThat(baseDir.exit()).as(baseDir.err()).isEqualTo(2);
        assertThat(baseDir.err()).contains("holds job directories");
        Run checkpoint = cli("restore-point", newest());
        assertThat(checkpoint.exit()).as(checkpoint.err()).isEqualTo(2);
        assertThat(checkpoint.err()).contains("not a job directory", new Path(jobDir()).getName());
        Run noJob = cli("restore-point", base.resolve("no-such-job").toString());
        assertThat(noJob.exit()).as(noJob.err()).isEqualTo(2);
        // nor "no orphans" (exit 0), which a scheduled clean-up would take for done
        for (String notAJob : List.of(base.toString(), newest(), base.resolve("no-such-job").toString())) {
            Run orphans = cli("orphans", "--delete", notAJob);
            assertThat(orphans.exit()).as(notAJob + ": " + orphans.err()).isEqualTo(2);
        }
        Run describeJob = cli("describe", jobDir());
        assertThat(describeJob.exit()).as(describeJob.err()).isEqualTo(2);
        assertThat(describeJob.err()).contains("describe takes");

        Run scheme = cli("validate", "nosuchfs://bucket/jobs/chk-1");
        assertThat(scheme.exit()).isEqualTo(2);
        assertThat(scheme.err()).contains("nosuchfs").doesNotContain("\tat ");

        Run usage = cli("validate");
        assertThat(usage.exit()).isEqualTo(2);
        assertThat(cli().exit()).isEqualTo(2);
        assertThat(cli("--help").exit()).isZero();
    }
}
