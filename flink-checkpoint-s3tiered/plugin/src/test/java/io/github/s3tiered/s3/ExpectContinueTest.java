package io.github.s3tiered.s3;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Which uploads ask for {@code 100 Continue} before their body, read on the wire: those of at least
 * the S3 client's threshold ({@code S3Configuration.expectContinueThresholdInBytes}, 1 MiB).
 */
class ExpectContinueTest {

    private static final int THRESHOLD_BYTES = 1024 * 1024;

    @TempDir
    Path dir;

    @Test
    void aSmallUploadSendsItsBodyWithoutWaitingForContinue() throws Exception {
        byte[] body = new byte[THRESHOLD_BYTES - 1];

        CapturedPut put = CapturedPut.put(dir, body, false);

        assertThat(put.header("expect")).isNull();
        assertThat(put.body()).isEqualTo(body);
    }

    @Test
    void aLargeUploadStillAsksFirst() throws Exception {
        byte[] body = new byte[THRESHOLD_BYTES];

        CapturedPut put = CapturedPut.put(dir, body, false);

        assertThat(put.header("expect")).isEqualTo("100-continue");
        assertThat(put.body()).isEqualTo(body);
    }
}
