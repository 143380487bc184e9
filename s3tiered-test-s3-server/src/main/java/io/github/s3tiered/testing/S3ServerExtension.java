package io.github.s3tiered.testing;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One S3 server per test class: {@code @RegisterExtension static final S3ServerExtension S3 = new
 * S3ServerExtension();}. Stopped when the class ends, whatever happened.
 */
public final class S3ServerExtension implements BeforeAllCallback, AfterAllCallback {

    private S3TestServer server;

    @Override
    public void beforeAll(ExtensionContext context) {
        server = S3TestServer.start();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (server != null) {
            server.close();
            server = null;
        }
    }

    public S3TestServer server() {
        if (server == null) {
            throw new IllegalStateException("The S3 server runs only inside the test class");
        }
        return server;
    }
}
