package io.github.s3tiered.cluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.stream.Stream;

/**
 * Finds a secret in files (logs, process output, client transcripts): every line holding it, as
 * {@code file:line: text} with the secret itself replaced by {@code <SECRET>}, so that a report of
 * a leak does not leak it again.
 */
final class SecretScan {

    private SecretScan() {}

    /** Every line of {@code files} that contains {@code secret}. */
    static List<String> find(String secret, Collection<Path> files) {
        if (secret == null || secret.length() < 8) {
            throw new IllegalArgumentException("Scanning for a secret shorter than 8 characters finds noise");
        }
        List<String> hits = new ArrayList<>();
        for (Path file : files) {
            String text;
            try {
                // Any bytes (a binary file or a broken UTF-8 sequence) still scan: the secret is ASCII.
                text = new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot scan " + file, e);
            }
            if (!text.contains(secret)) {
                continue;
            }
            int lineNo = 0;
            for (String line : (Iterable<String>) text.lines()::iterator) {
                lineNo++;
                if (line.contains(secret)) {
                    String shown = line.replace(secret, "<SECRET>");
                    hits.add(file + ":" + lineNo + ": " + (shown.length() > 300 ? shown.substring(0, 300) + "..." : shown));
                }
            }
        }
        return hits;
    }

    /** The regular files under {@code dir} (recursively), or none when it does not exist. */
    static List<Path> filesUnder(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            return walk.filter(Files::isRegularFile).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
