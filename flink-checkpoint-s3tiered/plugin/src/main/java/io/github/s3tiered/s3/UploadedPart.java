package io.github.s3tiered.s3;

/** A part of a multipart upload that S3 accepted. */
public record UploadedPart(int partNumber, String etag) {}
