package io.github.s3tiered.fs;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.FallbackKey;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Keys under {@code s3tiered.} that no option reads: Flink ignores an unknown key without a word,
 * so {@code s3tiered.uplaod.part-size} would leave the default in place unnoticed. The keys of the
 * checkpoint storage and state backend (in Flink's {@code lib/}) are theirs to check.
 */
final class UnknownOptions {

    /** Prefixes of the keys the lib jar reads. */
    private static final List<String> LIB_PREFIXES = io.github.s3tiered.bridge.LibOptionKeys.PREFIXES;

    private UnknownOptions() {}

    /** One message per unknown key, naming the closest option. */
    static List<String> in(Set<String> configuredKeys) {
        Set<String> known = keysOf(S3TieredOptions.class);
        Set<String> anyJars = new TreeSet<>(known);
        anyJars.addAll(io.github.s3tiered.bridge.LibOptionKeys.KEYS);
        List<String> messages = new ArrayList<>();
        for (String key : new TreeSet<>(configuredKeys)) {
            if (!key.startsWith(S3TieredOptions.PREFIX) || known.contains(key)
                    || LIB_PREFIXES.stream().anyMatch(key::startsWith)) {
                continue;
            }
            messages.add(key + " is not an option of s3tiered:// and is ignored (did you mean " + closest(key, anyJars)
                    + "?)");
        }
        return messages;
    }

    static Set<String> keysOf(Class<?> holder) {
        Set<String> keys = new TreeSet<>();
        for (Field f : holder.getDeclaredFields()) {
            if (!Modifier.isStatic(f.getModifiers()) || f.getType() != ConfigOption.class) {
                continue;
            }
            try {
                ConfigOption<?> o = (ConfigOption<?>) f.get(null);
                keys.add(o.key());
                for (FallbackKey fk : o.fallbackKeys()) {
                    keys.add(fk.getKey());
                }
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
        return keys;
    }

    private static String closest(String key, Set<String> known) {
        return io.github.s3tiered.bridge.NearestKey.of(key, known);
    }
}
