package io.github.s3tiered.s3;

/** What a request was about, for error messages and logs. */
public record S3Request(String operation, String bucket, String key, String uploadId, int partNumber) {

    public static S3Request of(String operation, String bucket, String key) {
        return new S3Request(operation, bucket, key, null, 0);
    }

    public static S3Request ofUpload(String operation, String bucket, String key, String uploadId, int partNumber) {
        return new S3Request(operation, bucket, key, uploadId, partNumber);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(operation).append(" s3://").append(bucket).append('/');
        if (key != null) {
            sb.append(key);
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
