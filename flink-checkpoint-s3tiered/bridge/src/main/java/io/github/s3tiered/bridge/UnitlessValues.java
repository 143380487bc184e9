package io.github.s3tiered.bridge;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.FallbackKey;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.ReadableConfig;

import java.time.Duration;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Small numbers without a unit in duration and size options, refused by both jars. Flink reads
 * {@code 60} as 60 ms for a duration and as 60 bytes for a size, while a person writing it means
 * seconds or megabytes: "orphan-clock-margin: 60" would be a margin of 60 ms, under which a file
 * being written can be taken for an orphan, and "local.max-bytes: 50" a tier of 50 bytes. A bare
 * number below one second or one mebibyte is refused, naming the key and both readings; the unit
 * written out ({@code 60 ms}, {@code 50 b}) is taken as written.
 */
public final class UnitlessValues {

    private static final Pattern BARE_NUMBER = Pattern.compile("\\s*\\d+\\s*");
    private static final long ONE_MIB = 1024 * 1024;

    private UnitlessValues() {}

    /**
     * Throws when {@code option}, a duration or size option with a default, is set to a small
     * number without a unit; does nothing for other options.
     */
    public static void check(ReadableConfig conf, ConfigOption<?> option) {
        Object kind = option.hasDefaultValue() ? option.defaultValue() : null;
        boolean duration = kind instanceof Duration;
        Map<String, String> all;
        try {
            all = conf.toMap();
        } catch (RuntimeException unprintable) {
            // a value Flink cannot print (1.20: a Duration beyond a long of nanoseconds, set in
            // code): not a bare number written in a configuration file
            return;
        }
        String key = keySet(all, option);
        if (key == null || !duration && !(kind instanceof MemorySize)) {
            return;
        }
        String raw = all.get(key);
        if (raw == null || !BARE_NUMBER.matcher(raw).matches()) {
            return;
        }
        String v = raw.trim();
        long n;
        try {
            n = Long.parseLong(v);
        } catch (NumberFormatException huge) {
            return;
        }
        if (n == 0) {
            return;
        }
        if (duration && n < 1000) {
            throw new IllegalConfigurationException("Invalid value '" + v + "' for " + key + ": a number without a unit is"
                    + " milliseconds to Flink (" + v + " ms). Write the unit: '" + v + " s' for seconds, or '" + v
                    + " ms' if milliseconds are meant");
        }
        if (!duration && n < ONE_MIB) {
            throw new IllegalConfigurationException("Invalid value '" + v + "' for " + key + ": a number without a unit is"
                    + " bytes to Flink (" + v + " bytes). Write the unit: '" + v + " mb' for mebibytes, or '" + v
                    + " b' if bytes are meant");
        }
    }

    private static String keySet(Map<String, String> all, ConfigOption<?> option) {
        if (all.containsKey(option.key())) {
            return option.key();
        }
        for (FallbackKey fk : option.fallbackKeys()) {
            if (all.containsKey(fk.getKey())) {
                return fk.getKey();
            }
        }
        return null;
    }
}
