package io.github.s3tiered.inspector.cli;

import java.io.File;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.List;

/** The job's own classes, from the jars or directories given with {@code --job-classpath}. */
final class JobClasses {

    private JobClasses() {}

    static ClassLoader loader(List<String> entries, ClassLoader parent) {
        List<URL> urls = new ArrayList<>();
        for (String entry : entries) {
            if (entry.isBlank()) {
                continue;
            }
            File f = new File(entry.trim());
            if (!f.exists()) {
                throw new InspectorFailure("--job-classpath entry " + entry + " does not exist");
            }
            try {
                urls.add(f.toURI().toURL());
            } catch (MalformedURLException e) {
                throw new InspectorFailure("Bad --job-classpath entry " + entry + ": " + e.getMessage(), e);
            }
        }
        return new URLClassLoader("job-classes", urls.toArray(new URL[0]), parent);
    }
}
