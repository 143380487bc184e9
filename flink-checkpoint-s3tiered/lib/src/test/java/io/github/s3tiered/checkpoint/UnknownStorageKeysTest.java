package io.github.s3tiered.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

import java.util.Set;

class UnknownStorageKeysTest {

    @Test
    void aMisspelledKeyOfTheStorageIsFoundAndItsOwnAndOthersPass() {
        assertThat(TieredCheckpointStorage.unknownKeys(Set.of("s3tiered.verification.remove-orphan",
                "s3tiered.verification.remove-orphans", "s3tiered.preupload.enabled", "s3tiered.recovery.validate.deep",
                "s3tiered.upload.part-size", "state.backend.type")))
                .containsExactly("s3tiered.verification.remove-orphan");
    }

    @Test
    void thePluginKnowsTheKeysOfTheStorageAndBackend() {
        // its suggestions for a misspelt key go by this list
        assertThat(io.github.s3tiered.bridge.LibOptionKeys.KEYS).containsExactlyInAnyOrderElementsOf(
                TieredCheckpointStorage.optionKeys());
        assertThat(TieredCheckpointStorage.optionKeys()).allSatisfy(k -> assertThat(
                io.github.s3tiered.bridge.LibOptionKeys.PREFIXES).anySatisfy(p -> assertThat(k).startsWith(p)));
    }
}
