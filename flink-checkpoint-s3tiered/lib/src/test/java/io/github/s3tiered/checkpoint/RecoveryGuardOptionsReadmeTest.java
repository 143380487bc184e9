package io.github.s3tiered.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.configuration.ConfigOption;

import org.junit.jupiter.api.Test;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Every option of the recovery guard, the verification and the pre-upload has a README row with its key and default. */
class RecoveryGuardOptionsReadmeTest {

    @Test
    void theReadmeListsEveryGuardOptionWithItsDefault() throws Exception {
        assertThat(rowsOf(RecoveryGuardOptions.class)).isEqualTo(3);
    }

    @Test
    void theReadmeListsEveryVerificationOptionWithItsDefault() throws Exception {
        assertThat(rowsOf(VerificationOptions.class)).isEqualTo(5);
    }

    @Test
    void theReadmeListsEveryPreUploadOptionWithItsDefault() throws Exception {
        assertThat(rowsOf(io.github.s3tiered.preupload.PreUploadOptions.class)).isEqualTo(4);
    }

    private static int rowsOf(Class<?> holder) throws Exception {
        String readme = Files.readString(Path.of("..", "..", "README.md"), StandardCharsets.UTF_8);
        int options = 0;
        for (Field f : holder.getDeclaredFields()) {
            if (!Modifier.isStatic(f.getModifiers()) || f.getType() != ConfigOption.class) {
                continue;
            }
            ConfigOption<?> o = (ConfigOption<?>) f.get(null);
            options++;
            assertThat(readme).as("README row of %s", o.key())
                    .contains("| `" + o.key() + "` | `" + rendered(o.defaultValue()) + "` |");
        }
        return options;
    }

    private static String rendered(Object defaultValue) {
        return defaultValue instanceof java.time.Duration d
                ? org.apache.flink.util.TimeUtils.formatWithHighestUnit(d)
                : String.valueOf(defaultValue);
    }
}
