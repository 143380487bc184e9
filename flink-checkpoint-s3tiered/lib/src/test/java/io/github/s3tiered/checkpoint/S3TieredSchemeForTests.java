package io.github.s3tiered.checkpoint;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystemFactory;
import org.apache.flink.core.plugin.PluginManager;

import java.net.URI;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

/**
 * Serves the {@code s3tiered} scheme with a file system of the test's (a recording local one),
 * registered as Flink registers a plugin's, so that Flink's wrappers sit around it as they do
 * around the real plugin's.
 */
final class S3TieredSchemeForTests {

    private S3TieredSchemeForTests() {}

    static void serve(FileSystem fs) {
        serve("s3tiered", fs);
    }

    /** Serves another scheme: a file system that is not the plugin's, without its bridge. */
    static void serve(String scheme, FileSystem fs) {
        FileSystemFactory s3tiered = new FileSystemFactory() {
            @Override
            public String getScheme() {
                return scheme;
            }

            @Override
            public FileSystem create(URI fsUri) {
                return fs;
            }
        };
        FileSystem.initialize(new Configuration(), new PluginManager() {
            @Override
            @SuppressWarnings("unchecked")
            public <P> Iterator<P> load(Class<P> service) {
                return service == FileSystemFactory.class ? (Iterator<P>) List.of(s3tiered).iterator()
                        : Collections.emptyIterator();
            }
        });
    }

    /** Flink's file systems without the test's. */
    static void reset() {
        FileSystem.initialize(new Configuration(), null);
    }
}
