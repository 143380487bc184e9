package io.github.s3tiered.s3;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;

/**
 * A one-level listing of a large directory in parallel by key range. S3 lists 1,000 keys a request,
 * one page after another; a directory of 100,000 files (a job's {@code shared/}) is then 100
 * round trips in a row. Flink names checkpoint data files with random UUIDs (and pre-uploads with
 * SHA-256 in hex), so their first character spreads them evenly over {@code 0-9a-f}: after the
 * first page, the rest of the key space is cut at {@code <prefix>1} ... {@code <prefix>f} and
 * each range is listed by its own worker, from just below its lower bound (S3's
 * {@code StartAfter}) until a key at or above its upper bound.
 *
 * <p>Correct for any key names: the ranges cover the whole key space above the first page, each
 * worker keeps only the keys of its own range (a worker may see keys of the range below it
 * first), and keys are compared as S3 orders them (by UTF-8 bytes, i.e. by code point). Other
 * names only make the split uneven.
 */
final class RangeListing {

    private static final String SPLIT_CHARACTERS = "123456789abcdef";

    private final S3Access s3;
    private final String bucket;
    private final String prefix;
    private final Executor pool;

    RangeListing(S3Access s3, String bucket, String prefix, Executor pool) {
        this.s3 = s3;
        this.bucket = bucket;
        this.prefix = prefix;
        this.pool = pool;
    }

    ObjectListing list() throws IOException {
        ObjectListingPage first = s3.listPage(bucket, prefix, null, null);
        List<ObjectInfo> objects = new ArrayList<>(first.objects());
        List<String> prefixes = new ArrayList<>(first.commonPrefixes());
        if (first.nextToken() == null) {
            return new ObjectListing(objects, prefixes);
        }
        String last = lastName(first);
        if (last == null) {
            return sequentially(first, objects, prefixes);
        }
        // Ranges [lower, upper) above the first page; null: unbounded
        List<String> bounds = new ArrayList<>();
        bounds.add(null);
        for (char c : SPLIT_CHARACTERS.toCharArray()) {
            String bound = prefix + c;
            if (compare(bound, last) > 0) {
                bounds.add(bound);
            }
        }
        bounds.add(null);
        List<CompletableFuture<ObjectListing>> ranges = new ArrayList<>();
        for (int i = 0; i + 1 < bounds.size(); i++) {
            String lower = bounds.get(i);
            String upper = bounds.get(i + 1);
            // the first range continues the first page exactly; the others start just below their bound
            String startAfter = lower == null ? last : justBelow(lower);
            String from = lower == null ? last : lower;
            ranges.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return listRange(startAfter, from, lower == null, upper);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, pool));
        }
        IOException failure = null;
        for (CompletableFuture<ObjectListing> range : ranges) {
            try {
                ObjectListing l = range.join();
                objects.addAll(l.objects());
                prefixes.addAll(l.commonPrefixes());
            } catch (CompletionException e) {
                IOException io = e.getCause() instanceof UncheckedIOException u ? u.getCause()
                        : new IOException("Listing s3://" + bucket + "/" + prefix + " failed: " + e.getCause(), e.getCause());
                if (failure == null) {
                    failure = io;
                } else {
                    failure.addSuppressed(io);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
        return new ObjectListing(objects, prefixes);
    }

    private ObjectListing sequentially(ObjectListingPage first, List<ObjectInfo> objects, List<String> prefixes)
            throws IOException {
        String token = first.nextToken();
        while (token != null) {
            ObjectListingPage page = s3.listPage(bucket, prefix, token, null);
            objects.addAll(page.objects());
            prefixes.addAll(page.commonPrefixes());
            token = page.nextToken();
        }
        return new ObjectListing(objects, prefixes);
    }

    /** The names in {@code (from, upper)} ({@code [from, upper)} unless {@code fromExclusive}). */
    private ObjectListing listRange(String startAfter, String from, boolean fromExclusive, String upper) throws IOException {
        List<ObjectInfo> objects = new ArrayList<>();
        List<String> prefixes = new ArrayList<>();
        String token = null;
        boolean first = true;
        while (first || token != null) {
            ObjectListingPage page = s3.listPage(bucket, prefix, token, first ? startAfter : null);
            first = false;
            boolean beyond = false;
            for (ObjectInfo o : page.objects()) {
                if (inRange(o.key(), from, fromExclusive, upper)) {
                    objects.add(o);
                } else if (upper != null && compare(o.key(), upper) >= 0) {
                    beyond = true;
                }
            }
            for (String p : page.commonPrefixes()) {
                if (inRange(p, from, fromExclusive, upper)) {
                    prefixes.add(p);
                } else if (upper != null && compare(p, upper) >= 0) {
                    beyond = true;
                }
            }
            token = beyond ? null : page.nextToken();
        }
        return new ObjectListing(objects, prefixes);
    }

    private static boolean inRange(String name, String from, boolean fromExclusive, String upper) {
        int c = compare(name, from);
        return (fromExclusive ? c > 0 : c >= 0) && (upper == null || compare(name, upper) < 0);
    }

    private static String lastName(ObjectListingPage page) {
        String last = page.objects().isEmpty() ? null : page.objects().get(page.objects().size() - 1).key();
        for (String p : page.commonPrefixes()) {
            if (last == null || compare(p, last) > 0) {
                last = p;
            }
        }
        return last;
    }

    /** A name below {@code bound} and above every name below it that Flink or we would write. */
    private static String justBelow(String bound) {
        char last = bound.charAt(bound.length() - 1);
        return bound.substring(0, bound.length() - 1) + (char) (last - 1) + "\uffff";
    }

    /** S3's order: UTF-8 bytes, which is code point order (not Java's UTF-16 order). */
    static int compare(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }
}
