package io.github.s3tiered.tier;

/** An S3 object the tier may hold a copy of. */
public record ObjectKey(String bucket, String key) {

    @Override
    public String toString() {
        return "s3://" + bucket + "/" + key;
    }
}
