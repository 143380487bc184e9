package io.github.s3tiered.cluster;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Every process the cluster tests start, killed in {@code @AfterAll} and, should the test JVM end
 * before that, by a shutdown hook: no JobManager or TaskManager outlives a run, failed or not.
 */
final class ChildProcesses {

    private static final List<Process> STARTED = new ArrayList<>();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(ChildProcesses::killAll, "cluster-tests-process-killer"));
    }

    private ChildProcesses() {}

    static synchronized Process register(Process p) {
        STARTED.add(p);
        return p;
    }

    /** Kills (SIGKILL) every process started here that is still alive, and waits for each to end. */
    static synchronized void killAll() {
        for (Process p : STARTED) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        for (Process p : STARTED) {
            try {
                p.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        STARTED.removeIf(p -> !p.isAlive());
    }

    static synchronized long alive() {
        return STARTED.stream().filter(Process::isAlive).count();
    }
}
