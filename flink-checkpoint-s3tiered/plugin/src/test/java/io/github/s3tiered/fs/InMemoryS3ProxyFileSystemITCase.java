package io.github.s3tiered.fs;

import io.github.s3tiered.testing.S3TestServer;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * The core file-system cases against S3Proxy on its in-memory ({@code transient}) backend, the
 * server the inspector benchmark offers with {@code --s3-server memory}: its figures count only if
 * the file system behaves on it exactly as on the others (listings of many pages, conditional and
 * ranged reads, recorded checksums).
 */
class InMemoryS3ProxyFileSystemITCase extends AbstractS3TieredFileSystemTest {

    private static S3TestServer server;

    @BeforeAll
    static void startServer() {
        server = S3TestServer.startS3ProxyInMemory();
    }

    @AfterAll
    static void stopServer() {
        if (server != null) {
            server.close();
        }
    }

    @Override
    protected S3TestServer server() {
        return server;
    }
}
