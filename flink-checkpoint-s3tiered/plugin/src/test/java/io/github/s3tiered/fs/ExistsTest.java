package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.FakeS3FileSystems.BUCKET;
import static io.github.s3tiered.fs.FakeS3FileSystems.path;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.InMemoryObjectStore;
import io.github.s3tiered.s3.InMemoryObjectStore.FaultRule;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;

/**
 * {@code exists()} sends the HEAD and the listing that finds a "directory" together (one round
 * trip for a missing path, as Flink's check before every {@code _metadata}), and answers exactly
 * as {@code getFileStatus} would.
 */
class ExistsTest extends FakeS3FileSystemTest {

    private static final Duration DELAY = Duration.ofMillis(1500);

    @Test
    void aMissingPathIsListedWhileItsHeadIsStillOnItsWay() throws Exception {
        store.inject(FaultRule.on("HeadObject").keys("job/chk-9/_metadata").delay(DELAY));
        store.inject(FaultRule.on("ListObjectsV2").keys("job/chk-9/_metadata/.*").delay(DELAY));

        assertThat(fs.exists(path("job/chk-9/_metadata"))).isFalse();

        assertThat(store.calls("HeadObject")).hasSize(1);
        assertThat(store.calls("ListObjectsV2")).hasSize(1);
        InMemoryObjectStore.Call head = store.calls("HeadObject").get(0);
        InMemoryObjectStore.Call list = store.calls("ListObjectsV2").get(0);
        assertThat(list.key()).startsWith("job/chk-9/_metadata/");
        // both answer only DELAY after they start: one after the other (in either order), the
        // second would start at least DELAY after the first
        assertThat(Math.abs(list.startNanos() - head.startNanos())).isLessThan(DELAY.toNanos());
    }

    @Test
    void aFileOrADirectoryExistsAndNothingElseDoes() throws Exception {
        store.putRaw(BUCKET, "job/chk-9/_metadata", new byte[] {1, 2, 3}, null);
        store.putRaw(BUCKET, "job/shared/a", new byte[] {4}, null);

        assertThat(fs.exists(path("job/chk-9/_metadata"))).isTrue();
        assertThat(fs.exists(path("job/shared"))).isTrue();
        assertThat(fs.exists(path("job"))).isTrue();
        assertThat(fs.exists(path("job/chk-9/_metadat"))).isFalse();
        assertThat(fs.exists(path("job/shared/a/b"))).isFalse();
        assertThat(fs.exists(path("other"))).isFalse();
        for (String p : new String[] {"job/chk-9/_metadata", "job/shared", "job", "job/chk-9/_metadat", "job/shared/a/b",
                "other"}) {
            boolean viaStatus;
            try {
                fs.getFileStatus(path(p));
                viaStatus = true;
            } catch (java.io.FileNotFoundException e) {
                viaStatus = false;
            }
            assertThat(fs.exists(path(p))).as(p).isEqualTo(viaStatus);
        }
    }

    @Test
    void aFailedHeadOrListingFailsTheCallNamingThePath() {
        store.inject(FaultRule.on("HeadObject").keys("job/denied").error(403, "AccessDenied"));
        assertThatThrownBy(() -> fs.exists(path("job/denied"))).isInstanceOf(IOException.class)
                .hasMessageContaining("job/denied");

        store.inject(FaultRule.on("ListObjectsV2").keys("job/unlisted/.*").error(403, "AccessDenied"));
        assertThatThrownBy(() -> fs.exists(path("job/unlisted"))).isInstanceOf(IOException.class)
                .hasMessageContaining("job/unlisted/");
    }
}
