package io.github.s3tiered.s3;

import software.amazon.awssdk.http.TlsTrustManagersProvider;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.KeyStoreException;

import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;

/** Trust managers from a trust store file ({@code s3tiered.ssl.truststore.*}). */
public final class TrustStores {

    private TrustStores() {}

    /**
     * Reads the trust store; fails when it cannot be read, its password is wrong or it holds no
     * certificate. Messages never contain the password.
     */
    public static KeyStore load(Path path, String password, String type) throws IOException, GeneralSecurityException {
        KeyStore ks = KeyStore.getInstance(type != null ? type : KeyStore.getDefaultType());
        try (InputStream in = Files.newInputStream(path)) {
            ks.load(in, password != null ? password.toCharArray() : null);
        }
        if (!holdsCertificate(ks)) {
            throw new KeyStoreException("it holds no certificate");
        }
        return ks;
    }

    public static TrustManager[] trustManagers(Path path, String password, String type)
            throws IOException, GeneralSecurityException {
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(load(path, password, type));
        return tmf.getTrustManagers();
    }

    /** The SDK's hook: the trust managers of the settings' trust store. */
    static TlsTrustManagersProvider provider(S3ClientSettings settings) {
        return () -> {
            try {
                return trustManagers(settings.trustStorePath(), settings.trustStorePassword(), settings.trustStoreType());
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot read the trust store " + settings.trustStorePath(), e);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("Cannot use the trust store " + settings.trustStorePath() + ": " + e, e);
            }
        };
    }

    private static boolean holdsCertificate(KeyStore ks) throws KeyStoreException {
        for (var aliases = ks.aliases(); aliases.hasMoreElements(); ) {
            if (ks.getCertificate(aliases.nextElement()) != null) {
                return true;
            }
        }
        return false;
    }
}
