package io.github.s3tiered.testing;

/**
 * The S3 operation of a request, as {@link FaultInjectingProxy} classifies it from the method, the
 * path-style path ({@code /bucket/key}), the query and the {@code Range} header.
 */
public enum S3Operation {
    /** {@code PUT /bucket/key} (also CopyObject). */
    PUT_OBJECT,
    /** {@code PUT /bucket/key?partNumber=N&uploadId=U} (also UploadPartCopy). */
    UPLOAD_PART,
    /** {@code POST /bucket/key?uploads}. */
    CREATE_MULTIPART_UPLOAD,
    /** {@code POST /bucket/key?uploadId=U}. */
    COMPLETE_MULTIPART_UPLOAD,
    /** {@code DELETE /bucket/key?uploadId=U}. */
    ABORT_MULTIPART_UPLOAD,
    /** {@code GET /bucket/key} without a {@code Range} header. */
    GET_OBJECT,
    /** {@code GET /bucket/key} with a {@code Range} header. */
    GET_OBJECT_RANGE,
    /** {@code HEAD /bucket/key}. */
    HEAD_OBJECT,
    /** {@code GET /bucket?list-type=2}, {@code GET /bucket?prefix=...} or a plain {@code GET /bucket} (ListObjects). */
    LIST_OBJECTS,
    /** {@code DELETE /bucket/key}. */
    DELETE_OBJECT,
    /** {@code POST /bucket?delete}. */
    DELETE_OBJECTS,
    /** Anything else: bucket operations, ListBuckets, sub-resources such as {@code ?acl} or {@code ?tagging}. */
    OTHER
}
