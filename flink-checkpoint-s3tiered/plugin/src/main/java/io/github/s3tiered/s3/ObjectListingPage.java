package io.github.s3tiered.s3;

import java.util.List;

/** One page of a listing; {@code nextToken} is null on the last page. */
public record ObjectListingPage(List<ObjectInfo> objects, List<String> commonPrefixes, String nextToken) {}
