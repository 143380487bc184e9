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
 * first page, every hex digit {@code c} is listed by its own worker with the narrower prefix
 * {@code <prefix>c} (exact, and cheaper for servers that scan by prefix), and the names starting
 * with any other character by three more workers (below '0', between '9' and 'a', above 'f'),
 * each from S3's {@code StartAfter} and keeping only its own names.
 *
 * <p>Exact for any names: the workers split every name after the first page by its first
 * character after the prefix, and names are compared as S3 orders them (UTF-8 bytes, i.e. code
 * points). Names other than hex only make the split uneven.
 */
final class RangeListing {

    private static final String HEX = "0123456789abcdef";

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

    /** One worker's share: names after the first page whose first character after the prefix it accepts. */
    private record Share(String listPrefix, String startAfter, java.util.function.IntPredicate firstCharacter, String stopAt) {}

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
        // In S3's order: below '0', the digits, between '9' and 'a', a-f, above 'f'.
        List<Share> shares = new ArrayList<>();
        addGap(shares, last, c -> c < '0', prefix + "0", prefix);
        for (char c : HEX.toCharArray()) {
            String narrower = prefix + c;
            if (c == 'a') {
                addGap(shares, last, x -> x > '9' && x < 'a', prefix + "a", prefix + "9~");
            }
            if (last.startsWith(narrower)) {
                shares.add(new Share(narrower, last, x -> true, null));
            } else if (compare(narrower, last) > 0) {
                shares.add(new Share(narrower, null, x -> true, null));
            }
        }
        addGap(shares, last, c -> c > 'f', null, prefix + "f~");

        List<CompletableFuture<ObjectListing>> parts = new ArrayList<>();
        for (Share share : shares) {
            parts.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return listShare(share, last);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, pool));
        }
        IOException failure = null;
        for (CompletableFuture<ObjectListing> part : parts) {
            try {
                ObjectListing l = part.join();
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

    /** A share of names whose first character is not a hex digit, listed from the parent prefix. */
    private void addGap(List<Share> shares, String last, java.util.function.IntPredicate firstCharacter, String stopAt,
            String lowestStart) {
        if (stopAt != null && compare(last, stopAt) >= 0) {
            return; // all of it was on the first page
        }
        String startAfter = compare(last, lowestStart) > 0 ? last : lowestStart;
        shares.add(new Share(prefix, startAfter, firstCharacter, stopAt));
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

    private ObjectListing listShare(Share share, String last) throws IOException {
        List<ObjectInfo> objects = new ArrayList<>();
        List<String> prefixes = new ArrayList<>();
        String token = null;
        boolean first = true;
        while (first || token != null) {
            ObjectListingPage page = s3.listPage(bucket, share.listPrefix(), token, first ? share.startAfter() : null);
            first = false;
            boolean beyond = false;
            for (ObjectInfo o : page.objects()) {
                if (mine(share, o.key(), last)) {
                    objects.add(o);
                } else if (share.stopAt() != null && compare(o.key(), share.stopAt()) >= 0) {
                    beyond = true;
                }
            }
            for (String p : page.commonPrefixes()) {
                if (mine(share, p, last)) {
                    prefixes.add(p);
                } else if (share.stopAt() != null && compare(p, share.stopAt()) >= 0) {
                    beyond = true;
                }
            }
            token = beyond ? null : page.nextToken();
        }
        return new ObjectListing(objects, prefixes);
    }

    private boolean mine(Share share, String name, String last) {
        if (compare(name, last) <= 0 || name.length() <= prefix.length()) {
            return false; // on the first page
        }
        return share.firstCharacter().test(name.codePointAt(prefix.length()))
                && (share.stopAt() == null || compare(name, share.stopAt()) < 0);
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
