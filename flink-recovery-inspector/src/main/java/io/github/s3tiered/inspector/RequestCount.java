package io.github.s3tiered.inspector;

/**
 * File-system calls an inspection made, by kind. On S3 each call is one request, except a listing
 * of more than 1,000 entries, which the S3 API pages (one request per 1,000).
 */
public record RequestCount(long listStatus, long getFileStatus, long open, long checksumLookups, long delete) {

    public static final RequestCount NONE = new RequestCount(0, 0, 0, 0, 0);

    public long total() {
        return listStatus + getFileStatus + open + checksumLookups + delete;
    }

    public RequestCount plus(RequestCount o) {
        return new RequestCount(listStatus + o.listStatus, getFileStatus + o.getFileStatus, open + o.open,
                checksumLookups + o.checksumLookups, delete + o.delete);
    }

    public RequestCount minus(RequestCount o) {
        return new RequestCount(listStatus - o.listStatus, getFileStatus - o.getFileStatus, open - o.open,
                checksumLookups - o.checksumLookups, delete - o.delete);
    }

    @Override
    public String toString() {
        return total() + " (list " + listStatus + ", status " + getFileStatus + ", open " + open
                + ", checksum " + checksumLookups + ", delete " + delete + ")";
    }
}
