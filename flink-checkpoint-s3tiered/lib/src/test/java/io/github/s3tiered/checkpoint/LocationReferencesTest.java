package io.github.s3tiered.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.UUID;

/** What the JobManager sends the tasks inside a checkpoint's location reference, and what they read back. */
class LocationReferencesTest {

    private static final String SHARED = "s3tiered://bucket/checkpoints/0f3c9a1e2b4d5c6e7f8091a2b3c4d5e6/shared/";

    @Test
    void theWindowAndTheStatusComeBackWithFlinksOwnReference() throws IOException {
        String lost = SHARED + UUID.randomUUID();
        VerificationStatus status = new VerificationStatus(41, 2, Set.of(lost));
        LocationReferences.Decoded decoded = LocationReferences.decode(
                LocationReferences.encode(CheckpointStorageLocationReference.getDefault(), 1_200_000, status));

        assertThat(decoded.original().isDefaultReference()).isTrue();
        assertThat(decoded.reuseWindowMillis()).isEqualTo(1_200_000);
        assertThat(decoded.status().newestVerified()).isEqualTo(41);
        assertThat(decoded.status().failedCheckpoints()).isEqualTo(2);
        assertThat(decoded.status().missingObjects()).isEqualTo(1);
        // as a task's handle spells it: the same object however the path is written
        assertThat(decoded.status().mayBeMissing(new Path(lost))).isTrue();
        assertThat(decoded.status().mayBeMissing(new Path("S3TIERED" + lost.substring("s3tiered".length())))).isTrue();
        assertThat(decoded.status().mayBeMissing(new Path(SHARED + UUID.randomUUID()))).isFalse();

        CheckpointStorageLocationReference savepointLike =
                new CheckpointStorageLocationReference("s3tiered://bucket/savepoints/sp-1".getBytes(StandardCharsets.UTF_8));
        LocationReferences.Decoded withoutStatus = LocationReferences.decode(
                LocationReferences.encode(savepointLike, LocationReferences.PRE_UPLOAD_OFF, null));
        assertThat(withoutStatus.original()).isEqualTo(savepointLike);
        assertThat(withoutStatus.reuseWindowMillis()).isEqualTo(LocationReferences.PRE_UPLOAD_OFF);
        assertThat(withoutStatus.status()).isNull();
    }

    @Test
    void aReferenceFlinkMadePassesThroughWithNothingSent() throws IOException {
        CheckpointStorageLocationReference flinks =
                new CheckpointStorageLocationReference("s3tiered://bucket/savepoints/sp-1".getBytes(StandardCharsets.UTF_8));
        LocationReferences.Decoded decoded = LocationReferences.decode(flinks);
        assertThat(decoded.original()).isSameAs(flinks);
        assertThat(decoded.reuseWindowMillis()).isEqualTo(LocationReferences.NOT_SENT);
        assertThat(decoded.status()).isNull();
        assertThat(LocationReferences.decode(CheckpointStorageLocationReference.getDefault()).reuseWindowMillis())
                .isEqualTo(LocationReferences.NOT_SENT);
    }

    /**
     * The status rides in every barrier on every channel: with many objects lost it stays small
     * (paths of 10,000 objects were about 1 MB), and what was not sent waits for a later checkpoint.
     */
    @Test
    void manyMissingObjectsAreSentAsBoundedFingerprints() throws IOException {
        Set<String> missing = new LinkedHashSet<>();
        for (int i = 0; i < 20_000; i++) {
            missing.add(SHARED + UUID.randomUUID());
        }
        CheckpointStorageLocationReference reference =
                LocationReferences.encode(CheckpointStorageLocationReference.getDefault(), 600_000,
                        new VerificationStatus(7, 1, missing));

        // Flink sends it on every channel: 64 KiB made 2.6 GB of barriers per checkpoint in a 200 by 200 all-to-all job
        assertThat(reference.getReferenceBytes().length).isLessThanOrEqualTo(8 * VerificationStatus.MAX_MISSING_SENT + 64)
                .isLessThanOrEqualTo(5 * 1024);
        VerificationStatus.Received received = LocationReferences.decode(reference).status();
        assertThat(received.missingObjects()).isEqualTo(20_000);
        long sent = missing.stream().filter(p -> received.mayBeMissing(new Path(p))).count();
        assertThat(sent).isEqualTo(VerificationStatus.MAX_MISSING_SENT);
        // a file still in S3 is reused: no fingerprint of another path answers for it
        for (int i = 0; i < 10_000; i++) {
            assertThat(received.mayBeMissing(new Path(SHARED + UUID.randomUUID()))).isFalse();
        }
    }

    @Test
    void aReferenceCutShortIsAnErrorNotAnEmptyStatus() throws IOException {
        byte[] whole = LocationReferences.encode(CheckpointStorageLocationReference.getDefault(), 600_000,
                new VerificationStatus(3, 0, Set.of(SHARED + "a", SHARED + "b"))).getReferenceBytes();
        for (int cut = 8; cut < whole.length; cut++) {
            CheckpointStorageLocationReference shortened = new CheckpointStorageLocationReference(Arrays.copyOf(whole, cut));
            assertThatThrownBy(() -> LocationReferences.decode(shortened)).as("cut at %d of %d bytes", cut, whole.length)
                    .isInstanceOf(IOException.class);
        }
        byte[] longer = Arrays.copyOf(whole, whole.length + 1);
        assertThatThrownBy(() -> LocationReferences.decode(new CheckpointStorageLocationReference(longer)))
                .isInstanceOf(IOException.class).hasMessageContaining("Malformed");

        byte[] withoutStatus = LocationReferences.encode(CheckpointStorageLocationReference.getDefault(), 600_000, null)
                .getReferenceBytes();
        byte[] badFlag = withoutStatus.clone();
        badFlag[badFlag.length - 1] = 2;
        assertThatThrownBy(() -> LocationReferences.decode(new CheckpointStorageLocationReference(badFlag)))
                .isInstanceOf(IOException.class).hasMessageContaining("Malformed");
        byte[] emptyOriginal = withoutStatus.clone();
        emptyOriginal[4] = emptyOriginal[5] = emptyOriginal[6] = emptyOriginal[7] = 0; // length 0: Flink has no such reference
        assertThatThrownBy(() -> LocationReferences.decode(new CheckpointStorageLocationReference(emptyOriginal)))
                .isInstanceOf(IOException.class).hasMessageContaining("Malformed");
    }
}
