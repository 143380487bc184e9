package io.github.s3tiered.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A real S3 endpoint for tests and benchmarks.
 *
 * <p>By default it starts S3Proxy (filesystem-nio2 backend in a temp directory) as its own JVM on
 * a free loopback port, with credentials made up for this run. When {@code S3TIERED_TEST_ENDPOINT}
 * is set, it uses that endpoint instead (real AWS S3, MinIO, SeaweedFS), with {@code
 * S3TIERED_TEST_ACCESS_KEY}, {@code S3TIERED_TEST_SECRET_KEY}, {@code S3TIERED_TEST_BUCKET} and
 * {@code S3TIERED_TEST_REGION}; the bucket must exist there.
 *
 * <p>Only JDK classes are used here so that S3Proxy's dependencies never join the classpath
 * under test.
 */
public final class S3TestServer implements AutoCloseable {

    public static final String ENV_ENDPOINT = "S3TIERED_TEST_ENDPOINT";
    public static final String ENV_ACCESS_KEY = "S3TIERED_TEST_ACCESS_KEY";
    public static final String ENV_SECRET_KEY = "S3TIERED_TEST_SECRET_KEY";
    public static final String ENV_BUCKET = "S3TIERED_TEST_BUCKET";
    public static final String ENV_REGION = "S3TIERED_TEST_REGION";

    private static final String CLASSPATH_RESOURCE = "/s3tiered-testing/s3proxy.classpath";
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);

    private final String endpoint;
    private final String accessKey;
    private final String secretKey;
    private final String bucket;
    private final String region;
    private final String runPrefix;

    // Only for the local S3Proxy process.
    private final Path baseDir;
    private final Path propertiesFile;
    private final Path logFile;
    private final int port;
    // Only for a local S3Proxy serving https: a trust store holding its self-signed certificate.
    private final Path trustStore;
    private final String trustStorePassword;
    /** The command that starts the server when it is not S3Proxy (moto), or null. */
    private List<String> command;
    private String serverName = "S3Proxy";
    /** S3Proxy's transient backend: the data die with the process. */
    private boolean inMemory;
    private Process process;
    private Thread shutdownHook;

    private S3TestServer(
            String endpoint,
            String accessKey,
            String secretKey,
            String bucket,
            String region,
            Path baseDir,
            Path propertiesFile,
            Path logFile,
            int port) {
        this(endpoint, accessKey, secretKey, bucket, region, baseDir, propertiesFile, logFile, port, null, null);
    }

    private S3TestServer(
            String endpoint,
            String accessKey,
            String secretKey,
            String bucket,
            String region,
            Path baseDir,
            Path propertiesFile,
            Path logFile,
            int port,
            Path trustStore,
            String trustStorePassword) {
        this.trustStore = trustStore;
        this.trustStorePassword = trustStorePassword;
        this.endpoint = endpoint;
        this.accessKey = accessKey;
        this.secretKey = secretKey;
        this.bucket = bucket;
        this.region = region;
        this.baseDir = baseDir;
        this.propertiesFile = propertiesFile;
        this.logFile = logFile;
        this.port = port;
        this.runPrefix = "run-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** Starts S3Proxy, or connects to the endpoint named by {@code S3TIERED_TEST_ENDPOINT}. */
    public static S3TestServer start() {
        Map<String, String> env = System.getenv();
        String external = env.get(ENV_ENDPOINT);
        if (external != null && !external.isBlank()) {
            return new S3TestServer(
                    external,
                    require(env, ENV_ACCESS_KEY),
                    require(env, ENV_SECRET_KEY),
                    require(env, ENV_BUCKET),
                    env.getOrDefault(ENV_REGION, "us-east-1"),
                    null,
                    null,
                    null,
                    -1);
        }
        return startS3Proxy(null);
    }

    /** An S3 endpoint started by someone else (a container, a cloud bucket); the bucket must exist. */
    public static S3TestServer external(String endpoint, String accessKey, String secretKey, String bucket, String region) {
        return new S3TestServer(endpoint, accessKey, secretKey, bucket, region, null, null, null, -1);
    }

    /** The same S3 server seen through another endpoint URL, such as a {@link FaultInjectingProxy}. */
    public S3TestServer via(String otherEndpoint) {
        return new S3TestServer(otherEndpoint, accessKey, secretKey, bucket, region, null, null, null, -1);
    }

    /**
     * Starts S3Proxy in its own JVM. Its data live in {@code dataDir} (a new temp directory when
     * null) and are deleted on {@link #close()} only when the directory was made here.
     */
    public static S3TestServer startS3Proxy(Path dataDir) {
        return startS3Proxy(dataDir, null, false, false);
    }

    /**
     * Starts S3Proxy in its own JVM with jclouds' {@code transient} backend: objects live in the
     * server's heap, in a map sorted by key, so a listing page costs the keys under the request's
     * prefix rather than a scan of a whole directory on disk as with filesystem-nio2. Meant for
     * benchmarks of many small objects (listing 100,000 keys); its data are lost when the process
     * stops, so it cannot be stopped and restarted with them ({@link #isLocalProcess()} is false, as for
     * moto; {@link #stopProcess()} and {@link #restartProcess()} refuse).
     */
    public static S3TestServer startS3ProxyInMemory() {
        return startS3Proxy(null, null, false, true);
    }

    /**
     * As {@link #startS3Proxy(Path)}, with a secret key of the caller's choosing (letters and digits),
     * e.g. a distinctive value a test then searches for in logs and output.
     */
    public static S3TestServer startS3Proxy(Path dataDir, String secretKey) {
        return startS3Proxy(dataDir, secretKey, false, false);
    }

    /**
     * As {@link #startS3Proxy(Path)}, serving https only ({@code s3proxy.secure-endpoint}) with a
     * self-signed certificate for 127.0.0.1 generated for this run. Clients must trust it:
     * {@link #trustStore()} is a PKCS12 trust store holding only that certificate.
     */
    public static S3TestServer startS3ProxyTls(Path dataDir) {
        return startS3Proxy(dataDir, null, true, false);
    }

    private static S3TestServer startS3Proxy(Path dataDir, String chosenSecretKey, boolean tls, boolean inMemory) {
        try {
            Path work = Files.createTempDirectory("s3tiered-s3proxy-");
            Path base = dataDir != null ? dataDir : work.resolve("data");
            if (!inMemory) {
                Files.createDirectories(base);
            }
            int port = LoopbackPorts.next();
            SecureRandom random = new SecureRandom();
            String accessKey = "AK" + HexFormat.of().formatHex(random.generateSeed(8)).toUpperCase();
            String secretKey = chosenSecretKey != null ? chosenSecretKey : HexFormat.of().formatHex(random.generateSeed(20));
            if (!secretKey.matches("[A-Za-z0-9]{8,}")) {
                throw new IllegalArgumentException("The secret key must be at least 8 letters or digits");
            }
            String endpoint = (tls ? "https" : "http") + "://127.0.0.1:" + port;
            String bucket = "s3tiered-test";
            if (!inMemory) {
                // filesystem-nio2 serves every directory under its base as a bucket
                Files.createDirectories(base.resolve(bucket));
            }

            List<String> properties = new ArrayList<>();
            Path trustStore = null;
            String storePassword = null;
            if (tls) {
                storePassword = HexFormat.of().formatHex(random.generateSeed(12));
                Path keyStore = work.resolve("s3proxy-keystore.p12");
                trustStore = work.resolve("s3proxy-truststore.p12");
                generateSelfSignedCertificate(work, keyStore, trustStore, storePassword);
                properties.add("s3proxy.secure-endpoint=" + endpoint);
                properties.add("s3proxy.keystore-path=" + keyStore.toAbsolutePath());
                properties.add("s3proxy.keystore-password=" + storePassword);
            } else {
                properties.add("s3proxy.endpoint=" + endpoint);
            }
            properties.addAll(List.of(
                    "s3proxy.authorization=aws-v2-or-v4",
                    "s3proxy.identity=" + accessKey,
                    "s3proxy.credential=" + secretKey,
                    "s3proxy.ignore-unknown-headers=true",
                    // Clients that sign whole payloads (no aws-chunked, as
                    // flink-s3-fs-native against S3-compatible stores) send parts or PUTs
                    // far above S3Proxy's 32 MiB default; it buffers them in its heap.
                    "s3proxy.v4-max-non-chunked-request-size=" + (512L << 20),
                    "jclouds.provider=" + (inMemory ? "transient" : "filesystem-nio2"),
                    "jclouds.identity=" + accessKey,
                    "jclouds.credential=" + secretKey,
                    inMemory ? "" : "jclouds.filesystem.basedir=" + base.toAbsolutePath(),
                    ""));
            Path props = work.resolve("s3proxy.properties");
            Files.writeString(props, String.join("\n", properties));
            Files.writeString(
                    work.resolve("logback.xml"),
                    "<configuration><appender name=\"F\" class=\"ch.qos.logback.core.ConsoleAppender\">"
                            + "<encoder><pattern>%d %-5level %logger{20} %msg%n</pattern></encoder>"
                            + "</appender><root level=\"WARN\"><appender-ref ref=\"F\"/></root>"
                            + "</configuration>\n");
            S3TestServer server =
                    new S3TestServer(
                            endpoint,
                            accessKey,
                            secretKey,
                            bucket,
                            "us-east-1",
                            dataDir != null ? null : work,
                            props,
                            work.resolve("s3proxy.log"),
                            port,
                            trustStore,
                            storePassword);
            server.inMemory = inMemory;
            try {
                server.launch();
                if (inMemory) {
                    server.createBucketSignedV2();
                }
            } catch (IOException | RuntimeException e) {
                server.close(); // the process (and its temp directory) must not outlive a failed start
                throw e;
            }
            return server;
        } catch (IOException e) {
            throw new UncheckedIOException("Could not start S3Proxy", e);
        }
    }

    /**
     * A key pair and self-signed certificate for 127.0.0.1 (SAN ip:127.0.0.1 and dns:localhost) in
     * {@code keyStore}, and a trust store with only the certificate, both PKCS12, made with the
     * running JDK's keytool.
     */
    private static void generateSelfSignedCertificate(Path work, Path keyStore, Path trustStore, String password)
            throws IOException {
        Path cert = work.resolve("s3proxy.crt");
        keytool("-genkeypair", "-alias", "s3proxy", "-keyalg", "RSA", "-keysize", "2048", "-validity", "7",
                "-dname", "CN=127.0.0.1, O=s3tiered tests", "-ext", "SAN=ip:127.0.0.1,dns:localhost",
                "-storetype", "PKCS12", "-keystore", keyStore.toString(), "-storepass", password, "-keypass", password);
        keytool("-exportcert", "-rfc", "-alias", "s3proxy", "-storetype", "PKCS12", "-keystore", keyStore.toString(),
                "-storepass", password, "-file", cert.toString());
        keytool("-importcert", "-noprompt", "-alias", "s3proxy", "-storetype", "PKCS12", "-keystore", trustStore.toString(),
                "-storepass", password, "-file", cert.toString());
    }

    private static void keytool(String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IOException("keytool " + args[0] + " failed: " + output);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("Interrupted while running keytool", e);
        }
    }

    /** The command that runs {@code moto_server}: {@code S3TIERED_MOTO_SERVER} or {@code moto_server} on the PATH. */
    public static final String ENV_MOTO_SERVER = "S3TIERED_MOTO_SERVER";

    /**
     * Where {@code moto_server} (Python moto, a second S3 implementation) is, or empty: tests that
     * need it skip with a message naming it.
     */
    public static java.util.Optional<Path> motoServer() {
        String configured = System.getenv(ENV_MOTO_SERVER);
        if (configured != null && !configured.isBlank()) {
            Path p = Path.of(configured);
            return Files.isExecutable(p) ? java.util.Optional.of(p) : java.util.Optional.empty();
        }
        String path = System.getenv("PATH");
        if (path == null) {
            return java.util.Optional.empty();
        }
        for (String dir : path.split(java.io.File.pathSeparator)) {
            Path candidate = Path.of(dir, "moto_server");
            if (Files.isExecutable(candidate)) {
                return java.util.Optional.of(candidate);
            }
        }
        return java.util.Optional.empty();
    }

    /**
     * Starts {@code moto_server} (in memory, on a free loopback port) as its own process and
     * creates the bucket. moto checks no signature; the credentials are made up like S3Proxy's.
     * Its data lives in the process: it cannot be stopped and restarted with its data
     * ({@link #isLocalProcess()} is false).
     */
    public static S3TestServer startMoto() {
        Path moto = motoServer().orElseThrow(() -> new IllegalStateException(
                "moto_server is not installed (not on the PATH, " + ENV_MOTO_SERVER + " unset)"));
        try {
            Path work = Files.createTempDirectory("s3tiered-moto-");
            int port = LoopbackPorts.next();
            SecureRandom random = new SecureRandom();
            String accessKey = "AK" + HexFormat.of().formatHex(random.generateSeed(8)).toUpperCase();
            String secretKey = HexFormat.of().formatHex(random.generateSeed(20));
            String endpoint = "http://127.0.0.1:" + port;
            S3TestServer server = new S3TestServer(endpoint, accessKey, secretKey, "s3tiered-test", "us-east-1", work,
                    null, work.resolve("moto.log"), port);
            server.command = List.of(moto.toString(), "-H", "127.0.0.1", "-p", Integer.toString(port));
            server.serverName = "moto_server";
            try {
                server.launch();
                server.createBucketUnsigned();
            } catch (IOException | RuntimeException e) {
                server.close();
                throw e;
            }
            return server;
        } catch (IOException e) {
            throw new UncheckedIOException("Could not start moto_server", e);
        }
    }

    /**
     * PUT of the bucket signed with AWS signature version 2 (which S3Proxy accepts besides v4): the
     * transient backend starts with no bucket, and this module uses only JDK classes.
     */
    private void createBucketSignedV2() throws IOException {
        String date = java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME.format(java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC));
        String contentType = "application/octet-stream";
        String stringToSign = "PUT\n\n" + contentType + "\n" + date + "\n/" + bucket;
        String signature;
        try {
            javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA1");
            mac.init(new javax.crypto.spec.SecretKeySpec(secretKey.getBytes(StandardCharsets.UTF_8), "HmacSHA1"));
            signature = java.util.Base64.getEncoder().encodeToString(mac.doFinal(stringToSign.getBytes(StandardCharsets.UTF_8)));
        } catch (GeneralSecurityException e) {
            throw new IOException("Cannot sign the request creating bucket " + bucket, e);
        }
        createBucket(Map.of("Date", date, "Content-Type", contentType, "Authorization", "AWS " + accessKey + ":" + signature));
    }

    /** PUT of the bucket: moto accepts requests without a signature. */
    private void createBucketUnsigned() throws IOException {
        createBucket(Map.of());
    }

    private void createBucket(Map<String, String> headers) throws IOException {
        HttpURLConnection c = (HttpURLConnection) URI.create(endpoint + "/" + bucket).toURL().openConnection();
        c.setRequestMethod("PUT");
        headers.forEach(c::setRequestProperty);
        c.setDoOutput(true);
        c.getOutputStream().close();
        int code = c.getResponseCode();
        c.disconnect();
        if (code != 200) {
            throw new IOException("Creating bucket " + bucket + " on " + endpoint + " answered HTTP " + code + ": " + logTail());
        }
    }

    private void launch() throws IOException {
        if (command != null) {
            process = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile())).start();
            Process started = process;
            shutdownHook = new Thread(started::destroyForcibly, serverName + "-killer");
            Runtime.getRuntime().addShutdownHook(shutdownHook);
            awaitReady();
            return;
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>();
        cmd.add(java);
        // Some clients send a whole large object in one signed PUT, which S3Proxy buffers.
        // The transient backend holds every object in the heap (a checkpoint benchmark's live state
        // is about a GiB).
        cmd.add("-Xmx" + System.getProperty("s3tiered.s3proxy.heap", inMemory ? "6g" : "2g"));
        cmd.add("-XX:+UseSerialGC");
        // e.g. a flight recording of the server while a benchmark runs
        String extra = System.getProperty("s3tiered.s3proxy.jvm-options", "").trim();
        if (!extra.isEmpty()) {
            cmd.addAll(List.of(extra.split("\\s+")));
        }
        cmd.add("-Dlogback.configurationFile=" + propertiesFile.resolveSibling("logback.xml"));
        cmd.add("-cp");
        cmd.add(s3ProxyClasspath());
        cmd.add("org.gaul.s3proxy.Main");
        cmd.add("--properties");
        cmd.add(propertiesFile.toString());
        process =
                new ProcessBuilder(cmd)
                        .redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                        .start();
        Process started = process;
        shutdownHook = new Thread(started::destroyForcibly, "s3proxy-killer");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
        awaitReady();
    }

    private void awaitReady() throws IOException {
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException(
                        serverName + " exited with code " + process.exitValue() + ": " + logTail());
            }
            try {
                HttpURLConnection c = (HttpURLConnection) URI.create(endpoint + "/").toURL().openConnection();
                if (c instanceof HttpsURLConnection https) {
                    https.setSSLSocketFactory(trustingSslContext().getSocketFactory());
                }
                c.setConnectTimeout(500);
                c.setReadTimeout(2000);
                c.getResponseCode(); // any HTTP answer (403 without credentials) means ready
                c.disconnect();
                return;
            } catch (IOException notYet) {
                sleep(100);
            }
        }
        destroyProcess();
        throw new IOException(serverName + " did not answer on " + endpoint + " within " + START_TIMEOUT + ": " + logTail());
    }

    /** An SSL context that trusts exactly this server's self-signed certificate. */
    public SSLContext trustingSslContext() {
        if (trustStore == null) {
            throw new IllegalStateException(endpoint + " is not an https S3Proxy started here");
        }
        try (InputStream in = Files.newInputStream(trustStore)) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(in, trustStorePassword.toCharArray());
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException("Cannot read the trust store " + trustStore, e);
        }
    }

    /**
     * The PKCS12 trust store holding the self-signed certificate of an https S3Proxy started by
     * {@link #startS3ProxyTls(Path)}, or null for any other server.
     */
    public Path trustStore() {
        return trustStore;
    }

    /** The password of {@link #trustStore()}, or null. */
    public String trustStorePassword() {
        return trustStorePassword;
    }

    /** The end of S3Proxy's log, for error reports. */
    public String logTail() {
        if (logFile == null) {
            return "(external endpoint: no log)";
        }
        try {
            String log = Files.readString(logFile, StandardCharsets.UTF_8);
            return log.length() > 4000 ? log.substring(log.length() - 4000) : log;
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    private static String s3ProxyClasspath() throws IOException {
        try (InputStream in = S3TestServer.class.getResourceAsStream(CLASSPATH_RESOURCE)) {
            if (in == null) {
                throw new IOException(
                        "Missing " + CLASSPATH_RESOURCE + ": build the s3tiered-test-s3-server module first");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
        }
    }

    /**
     * CPU time the local S3Proxy process has used since it (last) started; empty for an external
     * endpoint or where the OS does not say. A benchmark charges it to the S3 server, which a
     * remote S3 would not take from the job's cores.
     */
    public java.util.Optional<Duration> processCpuTime() {
        Process started = process;
        return started == null ? java.util.Optional.empty() : started.info().totalCpuDuration();
    }

    /**
     * True when this run started S3Proxy itself with its data on disk (and so can stop and restart
     * it with them); false for moto, S3Proxy in memory and an external endpoint.
     */
    public boolean isLocalProcess() {
        return propertiesFile != null && !inMemory;
    }

    /** Stops the S3Proxy process, keeping its data, to prove that a read needs no S3. */
    public void stopProcess() {
        requireLocal();
        destroyProcess();
    }

    /** Starts S3Proxy again on the same port with the same data. */
    public void restartProcess() {
        requireLocal();
        destroyProcess();
        try {
            launch();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void requireLocal() {
        if (inMemory) {
            throw new IllegalStateException("S3Proxy on " + endpoint + " keeps its objects in memory: stopping it would lose them");
        }
        if (!isLocalProcess()) {
            throw new IllegalStateException("The S3 endpoint " + endpoint + " is external; it cannot be stopped here");
        }
    }

    private void destroyProcess() {
        if (process == null) {
            return;
        }
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs anyway
        }
        process = null;
    }

    @Override
    public void close() {
        destroyProcess();
        if (baseDir != null) {
            deleteRecursively(baseDir);
        }
    }

    public String endpoint() {
        return endpoint;
    }

    public String accessKey() {
        return accessKey;
    }

    public String secretKey() {
        return secretKey;
    }

    public String bucket() {
        return bucket;
    }

    public String region() {
        return region;
    }

    /** A key prefix unique to this server instance, so runs on a shared bucket never collide. */
    public String runPrefix() {
        return runPrefix;
    }

    /** Port of the local S3Proxy, or -1 for an external endpoint. */
    public int port() {
        return port;
    }

    /**
     * Flink configuration entries (Flink's standard S3 keys) that point a file system at this
     * server. Kept as plain strings so this module depends on nothing.
     */
    public Map<String, String> flinkS3Config() {
        return Map.of(
                "s3.endpoint", endpoint,
                "s3.access-key", accessKey,
                "s3.secret-key", secretKey,
                "s3.region", region,
                "s3.path.style.access", "true");
    }

    @Override
    public String toString() {
        return "S3TestServer{" + endpoint + ", bucket=" + bucket
                + (isLocalProcess() ? ", s3proxy" : inMemory ? ", s3proxy in memory" : command != null ? ", moto" : ", external") + "}";
    }

    private static String require(Map<String, String> env, String name) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            throw new IllegalStateException(ENV_ENDPOINT + " is set, so " + name + " must be set too");
        }
        return v;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while waiting for S3Proxy", e);
        }
    }

    private static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort: a temp directory
        }
    }
}
