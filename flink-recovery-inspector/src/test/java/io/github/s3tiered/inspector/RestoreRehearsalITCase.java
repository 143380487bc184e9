package io.github.s3tiered.inspector;

import io.github.s3tiered.inspector.rehearsal.FileProof;
import io.github.s3tiered.inspector.rehearsal.Proof;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import static org.assertj.core.api.Assertions.assertThat;

/** Deep validation rehearses the restore of real checkpoints of every kind. */
class RestoreRehearsalITCase {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = RealCheckpoints.miniCluster();

    @TempDir
    static java.nio.file.Path base;

    static RealCheckpoints checkpoints;

    final CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());

    @BeforeAll
    static void makeCheckpoints(@InjectMiniCluster MiniCluster cluster) throws Exception {
        FileSystem.initialize(new Configuration(), null);
        checkpoints = RealCheckpoints.make(cluster, base);
    }

    @ParameterizedTest
    @EnumSource(RealCheckpoints.Kind.class)
    void intactCheckpointsPassTheRehearsal(RealCheckpoints.Kind kind) throws Exception {
        Path cp = checkpoints.of(kind);
        Validation v = inspector.validate(cp, true);
        System.out.println(kind + " " + cp + " -> " + v.verdict() + " " + v.reason());
        v.deepCheck().files().forEach(f -> System.out.println("   " + f.proof() + " " + f.path() + " : " + f.how()));
        v.deepCheck().notes().forEach(n -> System.out.println("   NOTE " + n));
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.RESTORABLE);
        assertThat(v.deepCheck().notes()).isEmpty();
        assertThat(v.deepCheck().files()).extracting(FileProof::proof).doesNotContain(Proof.NONE);
    }
}
