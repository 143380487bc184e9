package io.github.s3tiered.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/** The JobManager's REST API, as far as the cluster tests use it. */
final class FlinkRest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String base;
    private final Path transcript;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    FlinkRest(String base) {
        this(base, null);
    }

    /**
     * A client that appends every request and its answer to {@code transcript}: what a job
     * client (the CLI, a deployment tool) would show its user.
     */
    FlinkRest(String base, Path transcript) {
        this.base = base;
        this.transcript = transcript;
    }

    /** An HTTP answer: status and body (JSON). */
    record Response(int status, String body) {
        boolean ok() {
            return status / 100 == 2;
        }

        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new UncheckedIOException("Not JSON: " + body, e);
            }
        }
    }

    /** The answer to a job submission: the job id when it was accepted, else the error. */
    record Submission(int status, String body, String jobId) {
        boolean accepted() {
            return jobId != null;
        }
    }

    Response request(String method, String path, HttpRequest.BodyPublisher body, String contentType) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60))
                .method(method, body);
        if (contentType != null) {
            b.header("Content-Type", contentType);
        }
        try {
            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            record(method + " " + path + " -> HTTP " + r.statusCode() + "\n" + r.body() + "\n");
            return new Response(r.statusCode(), r.body());
        } catch (IOException e) {
            throw new UncheckedIOException(method + " " + base + path + " failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private synchronized void record(String exchange) {
        if (transcript == null) {
            return;
        }
        try {
            Files.writeString(transcript, exchange, StandardCharsets.UTF_8,
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write the REST transcript " + transcript, e);
        }
    }

    JsonNode get(String path) {
        Response r = request("GET", path, HttpRequest.BodyPublishers.noBody(), null);
        if (!r.ok()) {
            throw new IllegalStateException("GET " + path + ": HTTP " + r.status() + " " + r.body());
        }
        return r.json();
    }

    /** True once the REST endpoint answers. */
    boolean reachable() {
        try {
            return request("GET", "/config", HttpRequest.BodyPublishers.noBody(), null).ok();
        } catch (UncheckedIOException notYet) {
            return false;
        }
    }

    /** Registered TaskManagers. */
    int taskManagers() {
        return get("/overview").path("taskmanagers").asInt();
    }

    int freeSlots() {
        return get("/overview").path("slots-available").asInt();
    }

    /** Uploads a job jar; returns its id for {@link #run}. */
    String uploadJar(Path jar) {
        String boundary = "----s3tiered" + UUID.randomUUID();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        try {
            body.write(("--" + boundary + "\r\n"
                    + "Content-Disposition: form-data; name=\"jarfile\"; filename=\"" + jar.getFileName() + "\"\r\n"
                    + "Content-Type: application/x-java-archive\r\n\r\n").getBytes(StandardCharsets.UTF_8));
            body.write(Files.readAllBytes(jar));
            body.write(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Response r = request("POST", "/jars/upload", HttpRequest.BodyPublishers.ofByteArray(body.toByteArray()),
                "multipart/form-data; boundary=" + boundary);
        if (!r.ok() || !"success".equals(r.json().path("status").asText())) {
            throw new IllegalStateException("Jar upload failed: HTTP " + r.status() + " " + r.body());
        }
        return Path.of(r.json().path("filename").asText()).getFileName().toString();
    }

    /** Runs an uploaded jar (detached, as the web UI does); {@code flinkConfiguration} may be empty. */
    Submission run(String jarId, String entryClass, List<String> args, int parallelism, Map<String, String> flinkConfiguration) {
        ObjectNode req = JSON.createObjectNode();
        req.put("entryClass", entryClass);
        args.forEach(req.putArray("programArgsList")::add);
        if (parallelism > 0) {
            req.put("parallelism", parallelism);
        }
        ObjectNode conf = req.putObject("flinkConfiguration");
        flinkConfiguration.forEach(conf::put);
        Response r = request("POST", "/jars/" + jarId + "/run", HttpRequest.BodyPublishers.ofString(req.toString()),
                "application/json");
        String jobId = r.ok() ? r.json().path("jobid").asText(null) : null;
        return new Submission(r.status(), r.body(), jobId);
    }

    String jobState(String jobId) {
        return get("/jobs/" + jobId).path("state").asText();
    }

    JsonNode checkpoints(String jobId) {
        return get("/jobs/" + jobId + "/checkpoints");
    }

    JsonNode exceptions(String jobId) {
        return get("/jobs/" + jobId + "/exceptions");
    }

    /** Cancels a job; its checkpoints stay when the configuration retains them on cancellation. */
    void cancel(String jobId) {
        Response r = request("PATCH", "/jobs/" + jobId + "?mode=cancel", HttpRequest.BodyPublishers.noBody(), null);
        if (!r.ok()) {
            throw new IllegalStateException("Cancel of " + jobId + " failed: HTTP " + r.status() + " " + r.body());
        }
    }
}
