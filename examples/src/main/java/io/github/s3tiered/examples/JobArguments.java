package io.github.s3tiered.examples;

import java.util.HashMap;
import java.util.Map;

/**
 * {@code --name value} arguments of the example job, and {@code --flag}s without a value. Flink's
 * own {@code ParameterTool} moved packages between 1.20 and 2.x; the job runs on both.
 */
public final class JobArguments {

    private final Map<String, String> values;

    private JobArguments(Map<String, String> values) {
        this.values = values;
    }

    public static JobArguments parse(String[] args) {
        Map<String, String> values = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || args[i].length() == 2) {
                throw new IllegalArgumentException("Expected --<name> at argument " + (i + 1) + ", got '" + args[i] + "'");
            }
            String name = args[i].substring(2);
            boolean hasValue = i + 1 < args.length && !args[i + 1].startsWith("--");
            values.put(name, hasValue ? args[++i] : "");
        }
        return new JobArguments(values);
    }

    public boolean has(String name) {
        return values.containsKey(name);
    }

    public String getRequired(String name) {
        String v = values.get(name);
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException("Missing argument --" + name);
        }
        return v;
    }

    public long getLong(String name, long defaultValue) {
        return has(name) ? number(name, Long::parseLong) : defaultValue;
    }

    public int getInt(String name, int defaultValue) {
        return has(name) ? number(name, Integer::parseInt) : defaultValue;
    }

    public double getDouble(String name, double defaultValue) {
        return has(name) ? number(name, Double::parseDouble) : defaultValue;
    }

    private <T> T number(String name, java.util.function.Function<String, T> parse) {
        try {
            return parse.apply(getRequired(name));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " takes a number, got '" + values.get(name) + "'", e);
        }
    }
}
