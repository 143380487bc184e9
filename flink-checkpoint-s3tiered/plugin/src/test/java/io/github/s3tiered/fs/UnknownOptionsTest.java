package io.github.s3tiered.fs;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

import java.util.Set;

class UnknownOptionsTest {

    @Test
    void aMisspelledKeyIsNamedWithTheOptionItWasMeantFor() {
        assertThat(UnknownOptions.in(Set.of("s3tiered.uplaod.part-size", "s3tiered.upload.part-size")))
                .containsExactly("s3tiered.uplaod.part-size is not an option of s3tiered:// and is ignored"
                        + " (did you mean s3tiered.upload.part-size?)");
    }

    @Test
    void aMisspelledKeyOfTheStorageOrBackendIsNamedWithItsOptionNotTheFileSystemsNearest() {
        // without the lib's keys, the nearest was s3tiered.local.enabled: the local tier turned off instead
        assertThat(UnknownOptions.in(Set.of("s3tiered.preuploads.enabled", "s3tiered.verfication.enabled")))
                .containsExactly(
                        "s3tiered.preuploads.enabled is not an option of s3tiered:// and is ignored"
                                + " (did you mean s3tiered.preupload.enabled?)",
                        "s3tiered.verfication.enabled is not an option of s3tiered:// and is ignored"
                                + " (did you mean s3tiered.verification.enabled?)");
    }

    @Test
    void knownKeysFallbackKeysOtherPrefixesAndTheLibsKeysPass() {
        assertThat(UnknownOptions.in(Set.of("s3tiered.endpoint", "s3.endpoint", "s3.whatever", "state.backend.type",
                "s3tiered.preupload.enabled", "s3tiered.verification.remove-orphans", "s3tiered.recovery.validate")))
                .isEmpty();
    }
}
