package io.github.s3tiered.preupload;

import io.github.s3tiered.bridge.S3TieredBridge;

import org.apache.flink.core.fs.Path;

import org.rocksdb.AbstractEventListener;
import org.rocksdb.DBOptions;
import org.rocksdb.Status;
import org.rocksdb.TableFileCreationInfo;
import org.rocksdb.TableFileCreationReason;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hands every SST file a RocksDB instance writes (flush or compaction output) to the
 * {@link SstPreUploader}, for the job's {@code shared/} directory. Called on RocksDB's own
 * threads: it only queues, and never throws into RocksDB.
 */
final class SstPreUploadListener extends AbstractEventListener {

    private static final Logger LOG = LoggerFactory.getLogger(SstPreUploadListener.class);

    private final SstPreUploader uploader;
    private final S3TieredBridge bridge;
    private final Path sharedDirectory;
    private final String sharedDirectoryKey;
    private final long minFileSize;
    private final long reuseWindowMillis;
    /**
     * What this instance pre-uploaded, newest last: what it takes back when its RocksDB instance
     * closes (the file system deletes those no checkpoint was handed, past their window too).
     * Bounded: the oldest beyond it are left to the orphan removal.
     */
    private final java.util.LinkedHashMap<Path, Long> recent = new java.util.LinkedHashMap<>();
    private static final int MAX_RECENT = 20_000;
    private volatile boolean closed;

    SstPreUploadListener(SstPreUploader uploader, S3TieredBridge bridge, Path sharedDirectory, PreUploadSettings settings) {
        super(EnabledEventCallback.ON_TABLE_FILE_CREATED);
        this.uploader = uploader;
        this.bridge = bridge;
        this.sharedDirectory = sharedDirectory;
        this.sharedDirectoryKey = io.github.s3tiered.inspector.PathKey.of(sharedDirectory);
        this.minFileSize = settings.minFileSize();
        this.reuseWindowMillis = settings.reuseWindowMillis();
        JobManagerReuseWindows.listenerOpened(sharedDirectoryKey);
    }

    S3TieredBridge bridge() {
        return bridge;
    }

    Path sharedDirectory() {
        return sharedDirectory;
    }

    long reuseWindowMillis() {
        return reuseWindowMillis;
    }

    boolean isClosed() {
        return closed;
    }

    /** An object pre-uploaded for this instance; withdrawn at once when the instance closed meanwhile. */
    void uploaded(Path object) {
        long now = System.currentTimeMillis();
        synchronized (recent) {
            recent.put(object, now);
            if (recent.size() > MAX_RECENT) {
                recent.remove(recent.keySet().iterator().next());
            }
        }
        if (closed) {
            withdrawAll();
        }
    }

    /**
     * {@code options} with this listener added to the job's own; RocksDB closes the listener, and
     * before it the hook that withdraws what no checkpoint took, with the instance.
     */
    DBOptions addTo(DBOptions options, java.util.Collection<AutoCloseable> handlesToClose) {
        java.util.List<AbstractEventListener> listeners = new java.util.ArrayList<>(options.listeners());
        listeners.add(this);
        handlesToClose.add(closeHook());
        handlesToClose.add(this);
        return options.setListeners(listeners);
    }

    /**
     * The RocksDB instance closed (its task ended, was cancelled or failed over): nothing of it
     * will be checkpointed any more, so what no checkpoint was handed is deleted.
     */
    AutoCloseable closeHook() {
        return () -> {
            if (closed) {
                return;
            }
            closed = true;
            JobManagerReuseWindows.listenerClosed(sharedDirectoryKey);
            uploader.execute(this::withdrawAll);
        };
    }

    /** Deletes that fail one after the other stop the withdrawal: the orphan removal takes the rest. */
    static final int MAX_WITHDRAWALS_FAILED_IN_A_ROW = 3;

    private void withdrawAll() {
        java.util.List<Path> objects;
        synchronized (recent) {
            objects = new java.util.ArrayList<>(recent.keySet());
            recent.clear();
        }
        int deleted = 0;
        int failedInARow = 0;
        for (int i = 0; i < objects.size(); i++) {
            Path object = objects.get(i);
            try {
                if (bridge.withdrawPreUpload(object)) {
                    deleted++;
                }
                failedInARow = 0;
            } catch (java.io.IOException | RuntimeException e) {
                LOG.info("Could not delete {}, uploaded ahead of a checkpoint that will not come (the orphan removal"
                        + " takes it later): {}", object, e.toString());
                if (++failedInARow >= MAX_WITHDRAWALS_FAILED_IN_A_ROW && i + 1 < objects.size()) {
                    // S3 down or refusing: each further DELETE would spend its retries as well
                    LOG.info("Leaving the other {} objects in {} uploaded ahead of checkpoints to the orphan removal:"
                            + " {} deletes failed in a row", objects.size() - i - 1, sharedDirectory, failedInARow);
                    break;
                }
            }
        }
        if (deleted > 0) {
            LOG.info("Deleted {} objects in {} uploaded ahead of checkpoints that will not come (the RocksDB instance closed)",
                    deleted, sharedDirectory);
        }
    }

    @Override
    public void onTableFileCreated(TableFileCreationInfo info) {
        try {
            if (closed) {
                return;
            }
            if (info.getStatus() != null && info.getStatus().getCode() != Status.Code.Ok) {
                return; // RocksDB failed to write it and deletes it
            }
            TableFileCreationReason reason = info.getReason();
            if (reason != TableFileCreationReason.FLUSH && reason != TableFileCreationReason.COMPACTION) {
                return;
            }
            if (info.getFileSize() <= minFileSize) {
                return; // Flink keeps such a file inside _metadata
            }
            if (JobManagerReuseWindows.preUploadOff(sharedDirectoryKey)) {
                return; // no checkpoint may take it (PreUploadSettings#reusedWithin warned once)
            }
            uploader.submit(this, java.nio.file.Path.of(info.getFilePath()), info.getFileSize());
        } catch (Throwable t) {
            LOG.warn("Not uploading {} ahead of the checkpoint: {}", info.getFilePath(), t.toString());
        }
    }
}
