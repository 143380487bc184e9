package io.github.s3tiered.checkpoint;

import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.runtime.util.EnvironmentInformation;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class FlinkLineCheckTest {

    @Test
    void theBuildRecordsItsLineAndTheFlinkItRunsOnIsOfIt() {
        // the same test runs in the 1.20 line's build, on Flink 1.20
        assertThat(FlinkLineCheck.builtFor()).isIn("2.3", "1.20");
        assertThat(EnvironmentInformation.getVersion()).startsWith(FlinkLineCheck.builtFor() + ".");
        assertThatCode(FlinkLineCheck::verify).doesNotThrowAnyException();
    }

    @Test
    void anotherLineIsRefusedNamingBoth() {
        assertThatThrownBy(() -> FlinkLineCheck.check("1.20.5", "2.3"))
                .isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining("built for Flink 2.3 but runs on Flink 1.20.5")
                .hasMessageContaining("built for Flink 1.20");
        assertThatThrownBy(() -> FlinkLineCheck.check("2.2.1", "2.3")).hasMessageContaining("Flink 2.2");
        assertThatThrownBy(() -> FlinkLineCheck.check("2.30.0", "2.3")).isInstanceOf(IllegalConfigurationException.class);
        assertThatThrownBy(() -> FlinkLineCheck.check("2.3.0", "1.20")).isInstanceOf(IllegalConfigurationException.class);
    }

    @Test
    void patchReleasesOfTheLineAndUnreleasedBuildsPass() {
        assertThatCode(() -> FlinkLineCheck.check("1.20.0", "1.20")).doesNotThrowAnyException();
        assertThatCode(() -> FlinkLineCheck.check("2.3.1", "2.3")).doesNotThrowAnyException();
        assertThatCode(() -> FlinkLineCheck.check("<unknown>", "2.3")).doesNotThrowAnyException();
    }
}
