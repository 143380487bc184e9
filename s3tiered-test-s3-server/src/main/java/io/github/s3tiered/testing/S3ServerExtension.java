package io.github.s3tiered.testing;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One S3 server per test class: {@code @RegisterExtension static final S3ServerExtension S3 = new
 * S3ServerExtension();}. Stopped when the class ends, whatever happened.
 */
public final class S3ServerExtension implements BeforeAllCallback, AfterAllCallback {

    private final java.util.function.Supplier<S3TestServer> starter;
    private final boolean moto;
    private S3TestServer server;

    /** S3Proxy, or the endpoint named by {@code S3TIERED_TEST_ENDPOINT}. */
    public S3ServerExtension() {
        this(S3TestServer::start, false);
    }

    private S3ServerExtension(java.util.function.Supplier<S3TestServer> starter, boolean moto) {
        this.starter = starter;
        this.moto = moto;
    }

    /** {@code moto_server}, a second S3 implementation; the class is skipped, saying so, where it is not installed. */
    public static S3ServerExtension moto() {
        return new S3ServerExtension(S3TestServer::startMoto, true);
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        if (moto && S3TestServer.motoServer().isEmpty()) {
            String why = context.getDisplayName() + ": moto_server is not installed (pip install 'moto[server]', or set "
                    + S3TestServer.ENV_MOTO_SERVER + "): its cases are skipped";
            System.err.println(why); // a skipped class shows as "Tests run: 0" in Maven's summary
            org.junit.jupiter.api.Assumptions.abort(why);
        }
        server = starter.get();
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
