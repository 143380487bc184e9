package io.github.s3tiered.bench;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A benchmark's table as a PNG bar chart (XChart), beside the table it prints: one group of bars per
 * row (a storage, a file system, an operation), one bar per measured column. Written to
 * {@code -Dbench.charts} (run.sh: {@code benchmarks/charts/}), named after the benchmark, the Flink
 * line and the network profile, so that one run's charts replace that run's and no other.
 */
final class BenchCharts {

    private BenchCharts() {}

    /** One chart: a title, the unit of its values, the rows, and per column the rows' values. */
    static final class Bars {
        private final String title;
        private final String unit;
        private final List<String> rows = new ArrayList<>();
        private final Map<String, List<Double>> columns = new LinkedHashMap<>();

        Bars(String title, String unit, List<String> columnNames) {
            this.title = title;
            this.unit = unit;
            columnNames.forEach(c -> columns.put(c, new ArrayList<>()));
        }

        /** A row's values, in the order of the columns; NaN where it has none (drawn as no bar). */
        Bars row(String name, double... values) {
            if (values.length != columns.size()) {
                throw new IllegalArgumentException("row " + name + " has " + values.length + " values for " + columns.size()
                        + " columns " + columns.keySet());
            }
            rows.add(name);
            int i = 0;
            for (List<Double> column : columns.values()) {
                column.add(Double.isNaN(values[i]) ? 0.0 : values[i]);
                i++;
            }
            return this;
        }

        boolean isEmpty() {
            return rows.isEmpty();
        }

        CategoryChart chart() {
            int longest = rows.stream().mapToInt(String::length).max().orElse(0);
            // room for the row names side by side (about 8 px a character); beyond 1800 px they slant
            int width = Math.max(900, Math.min(1800, rows.size() * (longest * 8 + 24)));
            boolean slanted = rows.size() * (longest * 8 + 24) > width;
            CategoryChart chart = new CategoryChartBuilder().width(width).height(slanted ? 480 + 5 * Math.min(longest, 60) : 480)
                    .title(title).yAxisTitle(unit).build();
            chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS); // never over a bar
            chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
            chart.getStyler().setLegendVisible(columns.size() > 1); // one column: the title says what it is
            chart.getStyler().setLabelsVisible(true);
            chart.getStyler().setDecimalPattern("#,##0.#");
            chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
            if (slanted) {
                chart.getStyler().setXAxisLabelRotation(30);
            }
            columns.forEach((name, values) -> chart.addSeries(name, rows, values));
            return chart;
        }
    }

    /** The directory charts go to: {@code -Dbench.charts}, else {@code charts/} in the working directory. */
    static Path directory() {
        return Path.of(System.getProperty("bench.charts", "charts"));
    }

    /**
     * Writes {@code bars} as {@code <directory>/<name>.png} and says so on stdout; a chart that
     * cannot be written is reported, never the end of the benchmark (its table is printed).
     */
    static Path write(String name, Bars bars) {
        return write(directory(), name, bars);
    }

    static Path write(Path dir, String name, Bars bars) {
        if (bars.isEmpty()) {
            return null;
        }
        Path png = dir.resolve(name + ".png");
        try {
            Files.createDirectories(dir);
            BitmapEncoder.saveBitmap(bars.chart(), png.toString(), BitmapEncoder.BitmapFormat.PNG);
            System.out.println("Chart: " + png);
            return png;
        } catch (IOException | RuntimeException | java.awt.AWTError | LinkageError e) {
            // e.g. a JVM without fonts or AWT libraries: the table stands on its own
            System.out.println("Chart " + png + " not written: " + e);
            return null;
        }
    }

    /** {@code <benchmark>-flink<line>-<profile>[-<what>]}: the file name of one run's chart. */
    static String name(String benchmark, String profile, String what) {
        String line = org.apache.flink.runtime.util.EnvironmentInformation.getVersion().replaceAll("^(\\d+\\.\\d+).*", "$1");
        return benchmark + "-flink" + line + "-" + profile + (what == null ? "" : "-" + what);
    }
}
