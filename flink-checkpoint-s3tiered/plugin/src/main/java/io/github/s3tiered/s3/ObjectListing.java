package io.github.s3tiered.s3;

import java.util.List;

/** One level of a delimited listing: objects and the "sub-directory" prefixes. */
public record ObjectListing(List<ObjectInfo> objects, List<String> commonPrefixes) {

    public boolean isEmpty() {
        return objects.isEmpty() && commonPrefixes.isEmpty();
    }
}
