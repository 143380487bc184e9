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
    private static final List<String> LIB_PREFIXES = List.of("s3tiered.verification.", "s3tiered.preupload.",
            "s3tiered.recovery.");

    private UnknownOptions() {}

    /** One message per unknown key, naming the closest option. */
    static List<String> in(Set<String> configuredKeys) {
        Set<String> known = keysOf(S3TieredOptions.class);
        List<String> messages = new ArrayList<>();
        for (String key : new TreeSet<>(configuredKeys)) {
            if (!key.startsWith(S3TieredOptions.PREFIX) || known.contains(key)
                    || LIB_PREFIXES.stream().anyMatch(key::startsWith)) {
                continue;
            }
            messages.add(key + " is not an option of the s3tiered:// file system and is ignored (did you mean "
                    + closest(key, known) + "?)");
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
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String k : known) {
            int d = distance(key, k);
            if (d < bestDistance) {
                best = k;
                bestDistance = d;
            }
        }
        return best;
    }

    /** Levenshtein distance. */
    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
