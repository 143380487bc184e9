package io.github.s3tiered.fs;

import io.github.s3tiered.testing.S3TestServer;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;

/**
 * The core file-system cases against a second S3 implementation, Python moto ({@code moto_server}
 * in its own process, started and stopped here as S3Proxy is); skipped, saying so, where it is
 * not installed.
 */
class MotoS3TieredFileSystemITCase extends AbstractS3TieredFileSystemTest {

    private static S3TestServer server;

    @BeforeAll
    static void startMoto() {
        if (S3TestServer.motoServer().isEmpty()) {
            String why = "MotoS3TieredFileSystemITCase: moto_server is not installed (pip install 'moto[server]', or set "
                    + S3TestServer.ENV_MOTO_SERVER + "): its cases are skipped";
            System.err.println(why);
            Assumptions.abort(why);
        }
        server = S3TestServer.startMoto();
    }

    @AfterAll
    static void stopMoto() {
        if (server != null) {
            server.close();
        }
    }

    @Override
    protected S3TestServer server() {
        return server;
    }
}
