package io.github.s3tiered.fs;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Which synced files tell that Flink's own checkpoint storage writes through s3tiered://. */
class FlinksOwnStorageSyncTest {

    @Test
    void aCheckpointsDataFileOrASharedFileTellsItTheMetadataAndOtherDirectoriesDoNot() {
        assertThat(S3TieredRuntime.writtenByFlinksOwnStorage("checkpoints/4f1c/chk-12/8a3b-uuid")).isTrue();
        assertThat(S3TieredRuntime.writtenByFlinksOwnStorage("chk-1/f")).isTrue();
        assertThat(S3TieredRuntime.writtenByFlinksOwnStorage("checkpoints/4f1c/shared/0c4d-uuid")).isTrue();

        // Flink's metadata stream syncs under the tiered storage too (savepoints), and the changelog
        // materialization's task-owned streams are Flink's under either storage
        assertThat(S3TieredRuntime.writtenByFlinksOwnStorage("checkpoints/4f1c/chk-12/_metadata")).isFalse();
        assertThat(S3TieredRuntime.writtenByFlinksOwnStorage("savepoints/savepoint-4f1c-0a1b2c/_metadata")).isFalse();
        assertThat(S3TieredRuntime.writtenByFlinksOwnStorage("checkpoints/4f1c/taskowned/0c4d-uuid")).isFalse();
        assertThat(S3TieredRuntime.writtenByFlinksOwnStorage("checkpoints/4f1c/chk-12/sub/file")).isFalse();
        assertThat(S3TieredRuntime.writtenByFlinksOwnStorage("data/chk-x/file")).isFalse();
    }
}
