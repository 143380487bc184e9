package io.github.s3tiered.s3;

/**
 * What a request was about, for error messages and logs. {@code range} is the byte range of a
 * ranged GET as sent ({@code bytes=0-99}), null otherwise: a restore reads one object in many
 * ranges, and the failing one is what tells a damaged or capped object from a failing server.
 */
public record S3Request(String operation, String bucket, String key, String uploadId, int partNumber, String range) {

    public static S3Request of(String operation, String bucket, String key) {
        return new S3Request(operation, bucket, key, null, 0, null);
    }

    public static S3Request ofUpload(String operation, String bucket, String key, String uploadId, int partNumber) {
        return new S3Request(operation, bucket, key, uploadId, partNumber, null);
    }

    /** A GET of {@code [from, toInclusive]} ({@code toInclusive < 0}: to the end; from 0 to the end: no range). */
    public static S3Request ofRange(String operation, String bucket, String key, long from, long toInclusive) {
        String range = toInclusive >= 0 ? "bytes=" + from + "-" + toInclusive : from > 0 ? "bytes=" + from + "-" : null;
        return new S3Request(operation, bucket, key, null, 0, range);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(operation).append(" s3://").append(bucket).append('/');
        if (key != null) {
            sb.append(key);
        }
        if (range != null) {
            sb.append(" (").append(range).append(')');
        }
        if (uploadId != null) {
            sb.append(" (upload id ").append(uploadId);
            if (partNumber > 0) {
                sb.append(", part ").append(partNumber);
            }
            sb.append(')');
        }
        return sb.toString();
    }
}
