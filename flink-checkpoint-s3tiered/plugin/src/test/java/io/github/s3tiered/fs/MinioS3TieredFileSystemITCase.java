package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.S3TieredTestSupport.rawClient;

import io.github.s3tiered.testing.S3TestServer;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.testcontainers.containers.MinIOContainer;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.utility.DockerImageName;

import software.amazon.awssdk.services.s3.S3Client;

/** The core file-system cases against MinIO, where a Docker engine exists; skipped elsewhere. */
@Testcontainers(disabledWithoutDocker = true)
class MinioS3TieredFileSystemITCase extends AbstractS3TieredFileSystemTest {

    static final DockerImageName MINIO =
            DockerImageName.parse("quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z").asCompatibleSubstituteFor("minio/minio");

    @Container static final MinIOContainer CONTAINER = new MinIOContainer(MINIO);

    private static S3TestServer server;

    @BeforeAll
    static void createBucket() {
        server = S3TestServer.external(CONTAINER.getS3URL(), CONTAINER.getUserName(), CONTAINER.getPassword(),
                "s3tiered-minio", "us-east-1");
        try (S3Client raw = rawClient(server)) {
            raw.createBucket(b -> b.bucket(server.bucket()));
        }
    }

    @AfterAll
    static void release() {
        if (server != null) {
            server.close();
        }
    }

    @Override
    protected S3TestServer server() {
        return server;
    }
}
