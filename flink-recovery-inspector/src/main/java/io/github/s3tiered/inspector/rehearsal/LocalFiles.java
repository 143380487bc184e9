package io.github.s3tiered.inspector.rehearsal;

import org.apache.flink.core.fs.Path;

/** Where the rehearsal finds the bytes of a referenced file: a local copy fetched before. */
@FunctionalInterface
public interface LocalFiles {

    /** The local copy of {@code file}, which the caller fetched in full. */
    java.nio.file.Path local(Path file);
}
