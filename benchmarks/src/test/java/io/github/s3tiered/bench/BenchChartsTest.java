package io.github.s3tiered.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;

/** A benchmark table drawn as a PNG: bars whose heights follow the values. */
class BenchChartsTest {

    @TempDir
    Path dir;

    @Test
    void writesThePngWithATallerBarForTheLargerValue() throws Exception {
        BenchCharts.Bars bars = new BenchCharts.Bars("Checkpoint end-to-end, loopback", "ms", List.of("p50"))
                .row("s3tiered", 100)
                .row("presto", 400);
        Path png = BenchCharts.write(dir, "checkpoint-test", bars);

        assertThat(png).isEqualTo(dir.resolve("checkpoint-test.png"));
        BufferedImage image = ImageIO.read(png.toFile());
        assertThat(image.getWidth()).isEqualTo(900);
        assertThat(image.getHeight()).isEqualTo(480);
        // the one series' colour: the bars' pixels; the right bar (400) reaches higher than the left (100)
        int barColour = mostFrequentNonBackground(image);
        int[] tops = barTops(image, barColour);
        assertThat(tops[1]).as("top of the right bar (smaller y is higher) vs the left bar's %d", tops[0]).isLessThan(tops[0]);
    }

    @Test
    void aRowOfTheWrongWidthIsRefused() {
        BenchCharts.Bars bars = new BenchCharts.Bars("t", "ms", List.of("p50", "p95"));
        assertThatThrownBy(() -> bars.row("s3tiered", 1)).hasMessageContaining("s3tiered").hasMessageContaining("p95");
    }

    @Test
    void nothingIsWrittenForATableWithoutRows() {
        assertThat(BenchCharts.write(dir, "empty", new BenchCharts.Bars("t", "ms", List.of("p50")))).isNull();
        assertThat(dir.resolve("empty.png")).doesNotExist();
    }

    private static int mostFrequentNonBackground(BufferedImage image) {
        java.util.Map<Integer, Integer> counts = new java.util.HashMap<>();
        for (int x = 0; x < image.getWidth(); x++) {
            for (int y = 0; y < image.getHeight(); y++) {
                int rgb = image.getRGB(x, y) & 0xFFFFFF;
                int r = rgb >> 16 & 0xFF;
                int g = rgb >> 8 & 0xFF;
                int b = rgb & 0xFF;
                if (Math.max(r, Math.max(g, b)) - Math.min(r, Math.min(g, b)) > 60) { // coloured, not white, grey or black
                    counts.merge(rgb, 1, Integer::sum);
                }
            }
        }
        return counts.entrySet().stream().max(java.util.Map.Entry.comparingByValue()).orElseThrow().getKey();
    }

    /** The highest pixel row of {@code colour} in the left and in the right half of the image. */
    private static int[] barTops(BufferedImage image, int colour) {
        int[] tops = {Integer.MAX_VALUE, Integer.MAX_VALUE};
        for (int x = 0; x < image.getWidth(); x++) {
            for (int y = 0; y < image.getHeight(); y++) {
                if ((image.getRGB(x, y) & 0xFFFFFF) == colour) {
                    int half = x < image.getWidth() / 2 ? 0 : 1;
                    tops[half] = Math.min(tops[half], y);
                }
            }
        }
        assertThat(tops).as("bars in both halves").doesNotContain(Integer.MAX_VALUE);
        return tops;
    }
}
