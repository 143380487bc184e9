package io.github.s3tiered.fs;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.WeakHashMap;

/**
 * The output streams of one file system that are neither closed nor abandoned, so that a delete
 * of their path abandons them ({@link TieredOutputStream#abandonIfOpen}). Weakly held: a stream
 * its writer dropped without a close leaves the set with the garbage collector.
 */
final class OpenStreams {

    /** Guarded by itself. */
    private final Set<TieredOutputStream> streams = Collections.newSetFromMap(new WeakHashMap<>());

    void opened(TieredOutputStream stream) {
        synchronized (streams) {
            streams.add(stream);
        }
    }

    void ended(TieredOutputStream stream) {
        synchronized (streams) {
            streams.remove(stream);
        }
    }

    /** Every open stream, at this moment. */
    List<TieredOutputStream> all() {
        synchronized (streams) {
            return new ArrayList<>(streams);
        }
    }

    /** The open streams writing {@code path}, or anything below it when {@code recursive}. */
    List<TieredOutputStream> under(ObjectPath path, boolean recursive) {
        List<TieredOutputStream> found = new ArrayList<>();
        synchronized (streams) {
            for (TieredOutputStream s : streams) {
                ObjectPath target = s.target();
                if (target.bucket().equals(path.bucket()) && (target.key().equals(path.key())
                        || recursive && target.key().startsWith(path.childPrefix()))) {
                    found.add(s);
                }
            }
        }
        return found;
    }
}
