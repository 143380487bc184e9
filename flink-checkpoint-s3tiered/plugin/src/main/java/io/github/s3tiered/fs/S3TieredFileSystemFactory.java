package io.github.s3tiered.fs;

import io.github.s3tiered.bridge.BridgeContract;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystemFactory;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URI;

/**
 * Factory of the {@code s3tiered://} scheme, found through {@code META-INF/services} in the plugin
 * jar. {@link #configure} only keeps the configuration: a Flink cluster that does not use
 * {@code s3tiered://} must start even if its S3 settings are wrong. The configuration is validated,
 * and the S3 client and local tier built, when the first {@code s3tiered://} path is used.
 */
public class S3TieredFileSystemFactory implements FileSystemFactory {

    public static final String SCHEME = BridgeContract.SCHEME;

    private static final Logger LOG = LoggerFactory.getLogger(S3TieredFileSystemFactory.class);

    private Configuration flinkConfig = new Configuration();
    private S3TieredRuntime runtime;

    @Override
    public String getScheme() {
        return SCHEME;
    }

    @Override
    public synchronized void configure(Configuration config) {
        this.flinkConfig = config;
        if (runtime != null) {
            runtime.close();
            runtime = null;
        }
    }

    @Override
    public FileSystem create(URI fsUri) throws IOException {
        String bucket = fsUri.getAuthority();
        if (bucket == null || bucket.isEmpty()) {
            throw new IOException("A s3tiered:// URI needs a bucket, as in s3tiered://<bucket>/<path>: " + fsUri);
        }
        return new S3TieredFileSystem(URI.create(SCHEME + "://" + bucket + "/"), runtime());
    }

    synchronized S3TieredRuntime runtime() throws IOException {
        if (runtime == null) {
            S3TieredConfig config;
            try {
                config = S3TieredConfig.from(flinkConfig);
            } catch (IllegalConfigurationException e) {
                throw new IOException("Invalid s3tiered:// configuration: " + e.getMessage(), e);
            }
            for (String unknown : UnknownOptions.in(flinkConfig.keySet())) {
                LOG.warn(unknown);
            }
            for (String ignored : ForeignS3Keys.identitiesNotTakenUp(flinkConfig)) {
                LOG.warn(ignored);
            }
            String limiter = ForeignS3Keys.connectionLimiter(flinkConfig.keySet());
            if (limiter != null) {
                LOG.warn(limiter);
            }
            runtime = new S3TieredRuntime(config);
            runtime.clusterOptions(flinkConfig);
            runtime.connectionLimited(limiter != null);
            LOG.info("s3tiered:// file system: {}, local tier {} ({}, {} byte budget)", config.client(),
                    config.localDir(), config.localEnabled() ? "enabled" : "staging only", config.localMaxBytes());
        }
        return runtime;
    }
}
