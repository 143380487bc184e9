package io.github.s3tiered.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.InMemoryObjectStore.FaultRule;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** The parallel listing by key range returns exactly what one listing page after page does, for any names. */
class RangeListingTest {

    private final S3Statistics stats = new S3Statistics();
    private final InMemoryObjectStore store = new InMemoryObjectStore(stats);
    private final S3Access s3 = new S3Access(store,
            new Retrier(new RetryPolicy(3, Duration.ofMillis(1), Duration.ofMillis(2), 3, Duration.ofMillis(1),
                    Duration.ofMillis(2)), "in-memory", stats), stats);
    private final ExecutorService pool = Executors.newFixedThreadPool(8);

    @AfterEach
    void stop() {
        pool.shutdownNow();
    }

    private void put(String key) {
        store.putRaw("b", key, new byte[] {1}, null);
    }

    @Test
    void aLargeDirectoryOfAnyNamesListsExactlyAsPageAfterPage() throws IOException {
        Random random = new Random(7);
        List<String> odd = List.of("", "-", ".hidden", "0", "00", "0~", "0~~", "0\u00ff", "0\uffff", "0\uffff\uffff", "1", "9z", "A-upper", "Z", "_x",
                "e\u00e9", "f", "f\uffff", "fff", "g", "zz", "\u00e9t\u00e9", "\ud83d\ude00emoji", "\uffff", "sub/a", "sub/b",
                "ab/c", "7/x");
        for (int i = 0; i < 4500; i++) {
            put("job/shared/" + UUID.nameUUIDFromBytes(new byte[] {(byte) i, (byte) (i >> 8), 3}));
        }
        for (int i = 0; i < 600; i++) {
            byte[] sha = new byte[32];
            random.nextBytes(sha);
            put("job/shared/" + java.util.HexFormat.of().formatHex(sha) + ".sst");
        }
        odd.forEach(n -> put("job/shared/" + n));
        put("job/sharedX");
        put("job/other/x");

        ObjectListing expected = s3.listDirectory("b", "job/shared/");
        long sequential = store.calls("ListObjectsV2").size();
        ObjectListing parallel = s3.listDirectory("b", "job/shared/", pool);
        long parallelRequests = store.calls("ListObjectsV2").size() - sequential;

        assertThat(parallel.objects()).extracting(ObjectInfo::key)
                .containsExactlyElementsOf(expected.objects().stream().map(ObjectInfo::key).toList());
        assertThat(parallel.commonPrefixes()).containsExactlyElementsOf(expected.commonPrefixes());
        assertThat(expected.objects()).hasSize(4500 + 600 + odd.size() - 4); // sub/, ab/, 7/ are prefixes; "" is the marker
        assertThat(expected.commonPrefixes()).containsExactly("job/shared/7/", "job/shared/ab/", "job/shared/sub/");
        // at most one extra page per share (16 digits, 3 gaps) beyond what page after page needs
        assertThat(parallelRequests).isBetween(sequential, sequential + 19);
    }

    @Test
    void aSmallDirectoryIsOneRequest() throws IOException {
        for (int i = 0; i < 999; i++) {
            put("d/" + UUID.randomUUID());
        }
        assertThat(s3.listDirectory("b", "d/", pool).objects()).hasSize(999);
        assertThat(store.calls("ListObjectsV2")).hasSize(1);
    }

    @Test
    void aRangeThatFailsFailsTheListingNamingIt() {
        for (int i = 0; i < 3000; i++) {
            put("d/" + UUID.randomUUID());
        }
        store.inject(FaultRule.on("ListObjectsV2").keys("d/7").internalError());
        assertThatThrownBy(() -> s3.listDirectory("b", "d/", pool))
                .isInstanceOf(IOException.class).hasMessageContaining("ListObjectsV2").hasMessageContaining("d/");
    }

    /** A check of the comparison against S3's byte order. */
    @Test
    void namesCompareAsTheirUtf8Bytes() {
        List<String> names = new ArrayList<>(List.of("\uffff", "\ud83d\ude00", "a", "\u00e9"));
        names.sort(RangeListing::compare);
        assertThat(names).containsExactly("a", "\u00e9", "\uffff", "\ud83d\ude00");
    }
}
