package io.github.s3tiered.fs;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** S3 takes at most 10,000 parts: a file that needs more at the configured size gets larger parts. */
class FileUploadPartsTest {

    private static final long MIB = 1024 * 1024;
    private static final long GIB = 1024 * MIB;

    @Test
    void theConfiguredSizeWhereTenThousandPartsHoldTheFile() {
        assertThat(FileUpload.partSizeFor(GIB, 32 * MIB)).isEqualTo(32 * MIB);
        assertThat(FileUpload.partSizeFor(10_000 * 5 * MIB, 5 * MIB)).isEqualTo(5 * MIB);
    }

    @Test
    void largerPartsWhereTheFileWouldNeedMoreThanTenThousand() {
        long savepoint = 50 * GIB + 1;
        long part = FileUpload.partSizeFor(savepoint, 5 * MIB);

        assertThat(part).isGreaterThan(5 * MIB);
        assertThat((savepoint + part - 1) / part).isLessThanOrEqualTo(S3TieredConfig.MAX_PARTS);
    }
}
