package io.github.s3tiered.tier;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.concurrent.TimeUnit;

/**
 * What must stay the same for a file checked once to be the file that was checked: size,
 * modification time and the file key (device and inode where the platform has them). A rewrite,
 * a truncation or a replacement by rename changes it. A hard link to the file has the same one.
 */
public record FileIdentity(long size, long modifiedNanos, Object fileKey) {

    public static FileIdentity of(Path p) throws IOException {
        BasicFileAttributes attrs = Files.readAttributes(p, BasicFileAttributes.class);
        return new FileIdentity(attrs.size(), attrs.lastModifiedTime().to(TimeUnit.NANOSECONDS), attrs.fileKey());
    }
}
