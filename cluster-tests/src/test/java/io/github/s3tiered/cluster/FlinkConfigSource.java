package io.github.s3tiered.cluster;

import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code docker/flink-conf.yaml}: the one Flink configuration shared by the standalone cluster of
 * the tests and by {@code docker/compose.yaml} (FLINK_PROPERTIES). Flat {@code key: value} YAML
 * with {@code ${NAME}} placeholders for what differs between deployments (S3 endpoint, keys,
 * bucket, local tier directory).
 */
final class FlinkConfigSource {

    static final Pattern PLACEHOLDER = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)}");

    private final Path file;
    private final String text;

    private FlinkConfigSource(Path file, String text) {
        this.file = file;
        this.text = text;
    }

    /** The repository's root, from the build ({@code s3tiered.repo.root}) or the working directory. */
    static Path repoRoot() {
        String root = System.getProperty("s3tiered.repo.root");
        Path p = root != null ? Path.of(root) : Path.of("").toAbsolutePath().getParent();
        return p.toAbsolutePath().normalize();
    }

    static Path dockerDir() {
        return repoRoot().resolve("docker");
    }

    static FlinkConfigSource load() {
        return load(dockerDir().resolve("flink-conf.yaml"));
    }

    static FlinkConfigSource load(Path file) {
        try {
            return new FlinkConfigSource(file, Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read the Flink configuration source " + file, e);
        }
    }

    Path file() {
        return file;
    }

    String text() {
        return text;
    }

    /** The entries as a YAML parser reads them (placeholders unresolved), in file order. */
    Map<String, String> entries() {
        return parseFlatYaml(text, file.toString());
    }

    /** The placeholder names the source uses. */
    Set<String> placeholders() {
        Set<String> names = new TreeSet<>();
        Matcher m = PLACEHOLDER.matcher(text);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    /** The source text with every placeholder replaced; fails on a placeholder without a value. */
    String render(Map<String, String> values) {
        return substitute(text, values);
    }

    static String substitute(String s, Map<String, String> values) {
        Matcher m = PLACEHOLDER.matcher(s);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String value = values.get(m.group(1));
            if (value == null) {
                throw new IllegalArgumentException("No value for the placeholder ${" + m.group(1) + "}");
            }
            m.appendReplacement(out, Matcher.quoteReplacement(value));
        }
        m.appendTail(out);
        return out.toString();
    }

    /** A flat YAML mapping of scalars, values as strings; anything nested is an error. */
    static Map<String, String> parseFlatYaml(String yaml, String what) {
        Object doc = new Yaml(new SafeConstructor(new LoaderOptions())).load(yaml);
        if (!(doc instanceof Map<?, ?> map)) {
            throw new IllegalArgumentException(what + " is not a YAML mapping");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : map.entrySet()) {
            Object v = e.getValue();
            if (v instanceof Map || v instanceof Iterable || v == null) {
                throw new IllegalArgumentException(what + ": '" + e.getKey() + "' is not a flat key: value entry");
            }
            out.put(String.valueOf(e.getKey()), String.valueOf(v));
        }
        return out;
    }

    /**
     * FLINK_PROPERTIES as the Flink image's entrypoint reads it: each line stripped of all
     * whitespace, split at the first ':' into key and value; blank lines skipped.
     */
    static Map<String, String> parseFlinkProperties(String properties) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String line : properties.split("\n")) {
            String prop = line.replaceAll("\\s", "");
            if (prop.isEmpty()) {
                continue;
            }
            int colon = prop.indexOf(':');
            String key = colon < 0 ? prop : prop.substring(0, colon);
            String value = colon < 0 ? "" : prop.substring(colon + 1);
            if (out.put(key, value) != null) {
                throw new IllegalArgumentException("FLINK_PROPERTIES sets '" + key + "' twice");
            }
        }
        return out;
    }

    /** {@code KEY=VALUE} lines of a docker compose {@code .env} file. */
    static Map<String, String> parseEnvFile(Path file) {
        Map<String, String> out = new LinkedHashMap<>();
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                String l = line.strip();
                if (l.isEmpty() || l.startsWith("#")) {
                    continue;
                }
                int eq = l.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException(file + ": not KEY=VALUE: " + line);
                }
                out.put(l.substring(0, eq), l.substring(eq + 1));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }
}
