package io.github.s3tiered.tier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.Crc32c;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Another process sharing the tier directory that stops while it holds the eviction lock (a
 * paused container, a stopped JVM) holds up no commit, restore or start of this one: each waits a
 * bounded time, then goes on without the scan (the budget is enforced later), and a write that
 * needed the eviction fails naming the lock.
 */
class FrozenTierNeighbourTest {

    /** What the test waits at most for a call that must not hang: far above the tier's wait of 300 ms. */
    private static final long HANG_SECONDS = 30;

    @TempDir Path dir;
    private Process holder;

    @AfterEach
    void stopHolder() {
        if (holder != null) {
            holder.destroyForcibly();
        }
    }

    private void freezeANeighbourHoldingTheLock() throws IOException {
        holder = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx64m",
                "-cp", System.getProperty("java.class.path"), TierLockHolderRun.class.getName(), dir.toString())
                .redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        assertThat(line).as("the neighbour took the lock").isEqualTo("locked");
    }

    private static void put(LocalTier tier, String key, int size) throws Exception {
        byte[] data = new byte[size];
        new Random(key.hashCode()).nextBytes(data);
        Path staged = tier.newStagingFile();
        Files.write(staged, data);
        tier.commit("b", key, staged, data.length, Crc32c.ofFile(staged));
    }

    private static <T> T withoutHanging(CompletableFuture<T> call) throws Exception {
        return call.get(HANG_SECONDS, TimeUnit.SECONDS);
    }

    @Test
    void commitsAndStartsGoOnWithoutTheScanAndAFullVolumeEvictionNamesTheLock() throws Exception {
        LocalTier tier = new LocalTier(dir, 10_000, "", Duration.ofMillis(300));
        freezeANeighbourHoldingTheLock();

        // over budget: each of these commits would scan under the lock
        withoutHanging(CompletableFuture.runAsync(() -> {
            try {
                for (int i = 0; i < 8; i++) {
                    put(tier, "k" + i, 2000);
                }
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }));
        assertThat(tier.getVerified("b", "k7")).as("the copy is kept, the budget enforced later").isPresent();
        assertThat(tier.usedBytes()).isGreaterThan(10_000);

        LocalTier another = withoutHanging(CompletableFuture.supplyAsync(() -> {
            try {
                return new LocalTier(dir, 10_000, "", Duration.ofMillis(300));
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }));
        assertThat(another.getVerified("b", "k0")).as("a process starting meanwhile serves the copies").isPresent();

        CompletableFuture<Long> eviction = CompletableFuture.supplyAsync(() -> {
            try {
                return tier.evictForFullVolume(4000);
            } catch (IOException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        assertThatThrownBy(() -> withoutHanging(eviction))
                .hasCauseInstanceOf(TierEviction.LockNotTaken.class)
                .hasMessageContaining(new TierLayout(dir, "").lockFile().toString());

        // the neighbour goes on and ends: the next scan enforces the budget
        holder.getOutputStream().close();
        assertThat(holder.waitFor(HANG_SECONDS, TimeUnit.SECONDS)).isTrue();
        tier.evictIfOverBudget();
        assertThat(tier.usedBytes()).isLessThanOrEqualTo(10_000);
        assertThat(tier.getVerified("b", "k7")).isPresent();
    }
}
