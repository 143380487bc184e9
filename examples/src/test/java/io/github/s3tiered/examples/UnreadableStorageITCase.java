package io.github.s3tiered.examples;

import static io.github.s3tiered.examples.RecoveryTestSupport.PARALLELISM;
import static io.github.s3tiered.examples.RecoveryTestSupport.TIMEOUT;
import static io.github.s3tiered.examples.RecoveryTestSupport.environment;
import static io.github.s3tiered.examples.RecoveryTestSupport.failureText;
import static io.github.s3tiered.examples.RecoveryTestSupport.initializeFileSystems;
import static io.github.s3tiered.examples.RecoveryTestSupport.run;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.Outcome;
import io.github.s3tiered.inspector.RestorePoint;
import io.github.s3tiered.inspector.RestorePointOptions;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.inspector.cli.RecoveryInspector;
import io.github.s3tiered.testing.FaultInjectingProxy;
import io.github.s3tiered.testing.FaultRule;
import io.github.s3tiered.testing.S3Operation;
import io.github.s3tiered.testing.S3ServerExtension;
import io.github.s3tiered.testing.S3TestServer;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * When S3 does not answer (throttled, failing, resetting or stalling), nothing is proven: the
 * validation's outcome is UNKNOWN, never a verdict; the restore-point search stops instead of
 * choosing an older checkpoint; the guard fails the submission and says why; the command line exits
 * 2. The faults are real HTTP answers and broken connections from a proxy in front of the S3 server.
 */
class UnreadableStorageITCase implements AwaitsBackgroundUploads {

    @RegisterExtension
    @Order(1)
    static final S3ServerExtension S3 = new S3ServerExtension();

    @RegisterExtension
    @Order(2)
    static final MiniClusterExtension MINI_CLUSTER = RecoveryTestSupport.miniCluster();

    @TempDir static java.nio.file.Path localTier;
    @TempDir java.nio.file.Path output;

    static FaultInjectingProxy proxy;
    static S3TestServer viaProxy;
    static String dir;
    static String newest;
    static Path jobDir;

    /** Retries cut short, so that each fault exhausts them quickly; otherwise the defaults. */
    static Configuration fileSystemConfig() {
        Configuration conf = RecoveryTestSupport.fileSystemConfig(viaProxy, localTier);
        conf.setString("s3tiered.retry.max-attempts", "2");
        conf.setString("s3tiered.retry.base-delay", "10 ms");
        conf.setString("s3tiered.retry.throttle.max-retries", "2");
        conf.setString("s3tiered.retry.throttle.base-delay", "10 ms");
        conf.setString("s3tiered.socket.timeout", "1 s");
        conf.setString("s3tiered.read.reopen-attempts", "1");
        return conf;
    }

    @BeforeAll
    static void retainedCheckpoints(@InjectMiniCluster MiniCluster cluster) throws Exception {
        URI target = URI.create(S3.server().endpoint());
        proxy = new FaultInjectingProxy(target.getHost(), target.getPort());
        viaProxy = S3.server().via(proxy.endpoint());
        initializeFileSystems(fileSystemConfig());
        dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/unreadable";
        // at least nine checkpoints before the input ends: the cancel after three finds it running
        RecoveryJob.Settings s = new RecoveryJob.Settings(60_000, 2_000, 4_000, 0, localTier.resolve("unused").toString())
                .gatedEvery(3_000);
        StreamExecutionEnvironment env = environment(dir, null);
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(cluster, env);
        JobRunner.awaitCheckpoints(cluster, job, 3, TIMEOUT);
        newest = JobRunner.cancelKeepingNewest(cluster, job, TIMEOUT).getExternalPath();
        newest = newest.endsWith("/_metadata") ? newest.substring(0, newest.length() - "/_metadata".length()) : newest;
        jobDir = new Path(newest).getParent();
    }

    @AfterEach
    void heal() {
        proxy.heal();
        initializeFileSystems(fileSystemConfig());
    }

    @AfterAll
    static void closeProxy() throws Exception {
        proxy.close();
    }

    /** What S3 does, and to which requests. */
    enum Fault {
        METADATA_SLOW_DOWN(() -> FaultRule.on(S3Operation.GET_OBJECT).keyMatching(".*/_metadata").slowDown()),
        METADATA_INTERNAL_ERROR(() -> FaultRule.on(S3Operation.GET_OBJECT).keyMatching(".*/_metadata").internalError()),
        // (a connection cut in the middle of the body is not among these: the read reopens where it
        // stopped and completes, and the content is then checked against its recorded CRC32C)
        METADATA_CONNECTION_RESET(() -> FaultRule.on(S3Operation.GET_OBJECT).keyMatching(".*/_metadata").resetBeforeResponse()),
        METADATA_STALLED(() -> FaultRule.on(S3Operation.GET_OBJECT).keyMatching(".*/_metadata")
                .stallResponseThenReset(Duration.ofSeconds(3))),
        HEAD_TOO_MANY_REQUESTS(() -> FaultRule.on(S3Operation.HEAD_OBJECT).tooManyRequests()),
        HEAD_STALLED(() -> FaultRule.on(S3Operation.HEAD_OBJECT).stallResponseThenReset(Duration.ofSeconds(3))),
        LISTING_INTERNAL_ERROR(() -> FaultRule.on(S3Operation.LIST_OBJECTS).keyMatching(".*/shared/").internalError()),
        LISTING_DENIED(() -> FaultRule.on(S3Operation.LIST_OBJECTS).keyMatching(".*/shared/").respond(403, "AccessDenied"));

        final Supplier<FaultRule> rule;

        Fault(Supplier<FaultRule> rule) {
            this.rule = rule;
        }
    }

    /**
     * An endpoint that answers every write with 200 and keeps nothing (a wrong endpoint behind a
     * gateway, a proxy that drops bodies): the bucket answers and the credentials may write, so only
     * reading back what was written shows it. The job fails at its start, naming the key and the
     * probe object, before any task runs or any checkpoint is taken.
     */
    @Test
    void anEndpointThatKeepsNoWrittenObjectFailsTheJobAtItsStart(@InjectMiniCluster MiniCluster cluster) throws Exception {
        proxy.inject(FaultRule.on(S3Operation.PUT_OBJECT).respond(200, "OK", "accepted and not kept"));
        String fresh = dir + "-writes-not-kept";
        RecoveryJob.Settings s = new RecoveryJob.Settings(60_000, 2_000, 0, 0, output.toString());
        JobResult result = run(cluster, environment(fresh, null), s);
        assertThat(result.isSuccess()).isFalse();
        assertThat(failureText(result)).contains("execution.checkpointing.dir", fresh + "/.s3tiered-check/",
                "does not keep what it is sent");
        assertThat(ExpectedResults.verify(output, s.records(), s.keys()).keysMatched()).as("no task ran").isZero();
    }

    @ParameterizedTest
    @EnumSource(Fault.class)
    void anUnreadableStorageIsUnknownNeverAVerdictAndNeverAnOlderCheckpoint(Fault fault, @InjectMiniCluster MiniCluster cluster)
            throws Exception {
        CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());
        assertThat(inspector.validate(new Path(newest), false).restorable()).isTrue();

        proxy.inject(fault.rule.get());
        Validation v = inspector.validate(new Path(newest), false);
        assertThat(v.outcome()).as(v.reason()).isEqualTo(Outcome.UNKNOWN);
        assertThat(v.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(v.problems()).isNotEmpty().allSatisfy(p -> assertThat(p.verdict()).isEqualTo(Verdict.UNKNOWN));

        RestorePoint rp = inspector.restorePoint(jobDir, RestorePointOptions.checkpointsOnly());
        assertThat(rp.outcome()).as(rp.explanation()).isEqualTo(Outcome.UNKNOWN);
        assertThat(rp.path()).as("no older checkpoint is chosen over one that could not be judged").isEmpty();
        assertThat(rp.undecided().map(u -> u.path().getName())).contains(new Path(newest).getName());

        // The guard: nothing resumes, neither the named checkpoint nor, with fallback, an older one.
        RecoveryJob.Settings s = new RecoveryJob.Settings(60_000, 2_000, 0, 0, output.toString());
        for (StreamExecutionEnvironment env : List.of(environment(dir, jobDir.toString()),
                environment(dir, newest, Map.of("s3tiered.recovery.fallback-to-restorable", "true")))) {
            JobResult result = run(cluster, env, s);
            assertThat(result.isSuccess()).isFalse();
            assertThat(failureText(result)).contains("could not be checked", "execution.state-recovery.path");
            assertThat(ExpectedResults.verify(output, s.records(), s.keys()).keysMatched()).as("no task ran").isZero();
        }
    }

    @Test
    void deepValidationOfAFileS3DoesNotServeIsUnknown() throws Exception {
        CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());
        Validation intact = inspector.validate(new Path(newest), true);
        assertThat(intact.restorable()).as(intact.reason()).isTrue();
        String victim = intact.files().get(0).path().getName();
        proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).keyMatching(".*/" + victim).slowDown());
        assertThat(inspector.validate(new Path(newest), false).restorable()).as("sizes come from listings").isTrue();
        Validation deep = inspector.validate(new Path(newest), true);
        assertThat(deep.outcome()).as(deep.reason()).isEqualTo(Outcome.UNKNOWN);
        assertThat(deep.filesConcerned()).singleElement().asString().endsWith(victim);
    }

    @Test
    void theCommandLineExitsTwoOnUnknown() throws Exception {
        proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).keyMatching(".*/_metadata").slowDown());
        List<String> fs = new ArrayList<>();
        fileSystemConfig().toMap().forEach((k, v) -> {
            fs.add("-D");
            fs.add(k + "=" + v);
        });
        Cli validate = cli(fs, "validate", "--json", newest);
        assertThat(validate.exit()).as(validate.err()).isEqualTo(2);
        assertThat(validate.out()).contains("\"outcome\" : \"UNKNOWN\"").contains("\"verdict\" : \"UNKNOWN\"");
        assertThat(validate.out()).doesNotContain(S3.server().secretKey());

        Cli restorePoint = cli(fs, "restore-point", jobDir.toString());
        assertThat(restorePoint.exit()).as(restorePoint.err()).isEqualTo(2);
        assertThat(restorePoint.out()).as("no path to resume from").isBlank();
        assertThat(restorePoint.err()).contains("could not be judged").doesNotContain(S3.server().secretKey());
    }

    record Cli(int exit, String out, String err) {}

    private static Cli cli(List<String> fs, String command, String... args) {
        List<String> all = new ArrayList<>();
        all.add(command);
        all.add("--quiet");
        all.addAll(fs);
        all.addAll(List.of(args));
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = RecoveryInspector.run(new PrintWriter(out, true), new PrintWriter(err, true), all.toArray(String[]::new));
        return new Cli(code, out.toString(), err.toString());
    }
}
