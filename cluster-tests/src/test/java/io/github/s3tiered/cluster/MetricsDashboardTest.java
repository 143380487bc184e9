package io.github.s3tiered.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.backend.TransferMetrics;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code docker/grafana/s3tiered-dashboard.json} and {@code docker/prometheus/} read with real
 * parsers: every metric a panel queries is a gauge the project registers (as Flink's Prometheus
 * reporter names it: the operator scope, the group {@code s3tiered}, the gauge), the dashboard
 * shows what an operator watches, and Prometheus scrapes the reporter's port.
 */
class MetricsDashboardTest {

    /** Flink's Prometheus reporter: logical scope of a keyed operator's metric, its group, then the gauge. */
    static final Pattern S3TIERED_METRIC = Pattern.compile("flink_taskmanager_job_task_operator_s3tiered_([A-Za-z0-9_]+)");

    final Path docker = FlinkConfigSource.dockerDir();

    @Test
    void everyQueriedMetricExistsAndThePanelsCoverWhatOperatorsWatch() throws IOException {
        JsonNode dashboard = new ObjectMapper().readTree(docker.resolve("grafana/s3tiered-dashboard.json").toFile());
        assertThat(dashboard.path("panels").size()).as("panels").isPositive();
        Set<String> shown = new LinkedHashSet<>();
        for (JsonNode panel : dashboard.path("panels")) {
            List<String> exprs = new ArrayList<>();
            panel.path("targets").forEach(t -> exprs.add(t.path("expr").asText()));
            assertThat(exprs).as("queries of panel '%s'", panel.path("title").asText()).isNotEmpty();
            for (String expr : exprs) {
                Matcher m = S3TIERED_METRIC.matcher(expr);
                boolean any = false;
                while (m.find()) {
                    any = true;
                    assertThat(TransferMetrics.GAUGE_NAMES).as("metric %s of panel '%s'", m.group(), panel.path("title").asText())
                            .contains(m.group(1));
                    shown.add(m.group(1));
                }
                assertThat(any).as("panel '%s' queries an s3tiered metric: %s", panel.path("title").asText(), expr).isTrue();
            }
        }
        assertThat(shown).as("upload latency, bytes per tier, throttled retries, restores by source, verification")
                .contains("uploadLatencyAvgMs", "bytesUploaded", "localTierUsedBytes", "bytesServedFromLocalTier",
                        "bytesDownloaded", "throttledRetries", "restoreBytesFromLocalTier", "restoreBytesFromS3",
                        "verifiedCheckpoint", "verificationMissingObjects");
        // the job variable the queries use is defined
        assertThat(dashboard.path("templating").path("list").findValuesAsText("name")).contains("datasource", "job");
    }

    @Test
    void prometheusScrapesThePortTheReporterListensOn() throws IOException {
        Map<String, String> reporter = FlinkConfigSource.parseFlatYaml(
                Files.readString(docker.resolve("prometheus/flink-reporter.yaml"), StandardCharsets.UTF_8), "flink-reporter.yaml");
        assertThat(reporter).containsEntry("metrics.reporter.prom.factory.class",
                "org.apache.flink.metrics.prometheus.PrometheusReporterFactory");
        String port = reporter.get("metrics.reporter.prom.port");
        assertThat(port).matches("\\d+");

        @SuppressWarnings("unchecked")
        Map<String, Object> prometheus = (Map<String, Object>) new Yaml(new SafeConstructor(new LoaderOptions()))
                .load(Files.readString(docker.resolve("prometheus/prometheus.yml"), StandardCharsets.UTF_8));
        List<?> jobs = (List<?>) prometheus.get("scrape_configs");
        List<String> targets = new ArrayList<>();
        for (Object job : jobs) {
            for (Object sc : (List<?>) ((Map<?, ?>) job).get("static_configs")) {
                ((List<?>) ((Map<?, ?>) sc).get("targets")).forEach(t -> targets.add(String.valueOf(t)));
            }
        }
        assertThat(targets).as("scrape targets").isNotEmpty()
                .allSatisfy(t -> assertThat(t).endsWith(":" + port))
                .anySatisfy(t -> assertThat(t).startsWith("jobmanager:"))
                .anySatisfy(t -> assertThat(t).startsWith("taskmanager:"));
        // the services scraped are the compose file's
        assertThat(Files.readString(docker.resolve("compose.yaml"), StandardCharsets.UTF_8)).contains("  jobmanager:", "  taskmanager:");
    }
}
