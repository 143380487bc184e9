package io.github.s3tiered.inspector.cli;

import java.io.IOException;
import java.io.InputStream;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The main class of the runnable inspector jar ({@code java -jar flink-recovery-inspector-<v>-flink<line>-cli.jar}):
 * takes Flink's classes from an installed Flink ({@code --flink-home DIR} or {@code $FLINK_HOME},
 * its {@code lib/}) and runs {@link RecoveryInspector} on them, so the jar carries only the
 * inspector, picocli and Jackson and reads checkpoints with the very Flink that wrote them. Refers
 * to no Flink class itself: it runs before they can be loaded.
 */
public final class Launcher {

    static final String FLINK_HOME_OPTION = "--flink-home";
    /** Flink's own jar in lib/: flink-dist in a distribution, flink-core where lib/ is assembled from Maven Central. */
    private static final Pattern FLINK_JAR = Pattern.compile("flink-(?:dist(?:_[0-9.]+)?|core)-(\\d+)\\.(\\d+)[^/]*\\.jar");
    /** Jars of this project in Flink's lib/: the inspector comes from this jar, in one version. */
    private static final String OWN_LIB_JAR_PREFIX = "flink-checkpoint-s3tiered-";

    private Launcher() {}

    public static void main(String[] args) {
        String mainClass = "io.github.s3tiered.inspector.cli.RecoveryInspector"; // by name: no class of it loaded here
        ClassLoader flink;
        try {
            if (flinkOnClassPath()) {
                invokeMain(Launcher.class.getClassLoader(), mainClass, args); // a development class path
                return;
            }
            flink = flinkClassLoader(args, System.getenv("FLINK_HOME"));
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(2); // the inspector's exit code of a usage or configuration error
            return;
        } catch (Throwable e) {
            // an uncaught throwable would exit with 1, which means "not restorable" only
            System.err.println("error: " + (e instanceof IOException ? "cannot read the Flink installation: " : "") + e);
            System.exit(2);
            return;
        }
        Thread.currentThread().setContextClassLoader(flink);
        try {
            invokeMain(flink, mainClass, args);
        } catch (Throwable t) {
            // the inspector's main exits itself; this is a failure to load it from this Flink (a mixed lib/):
            // an error (2), never "not restorable" (1), which an uncaught throwable would exit with
            System.err.println("error: could not run the inspector with the Flink of " + optionOrEnvHome(args) + ": " + t);
            System.exit(2);
        }
    }

    private static String optionOrEnvHome(String[] args) {
        String fromOption = optionValue(args, FLINK_HOME_OPTION);
        return fromOption != null ? fromOption : System.getenv("FLINK_HOME");
    }

    /** This jar and the jars of {@code <flink home>/lib}, on the platform class loader. */
    static ClassLoader flinkClassLoader(String[] args, String flinkHomeEnv) throws IOException {
        String fromOption = optionValue(args, FLINK_HOME_OPTION);
        String home = fromOption != null ? fromOption : flinkHomeEnv;
        String source = fromOption != null ? FLINK_HOME_OPTION : "$FLINK_HOME";
        if (home == null || home.isBlank()) {
            throw new IllegalArgumentException("No Flink installation to read checkpoints with: pass " + FLINK_HOME_OPTION
                    + " DIR or set FLINK_HOME (the directory holding Flink's lib/, plugins/ and conf/; /opt/flink in Flink's"
                    + " image)");
        }
        Path lib = Path.of(home, "lib");
        if (!Files.isDirectory(lib)) {
            throw new IllegalArgumentException("Flink home " + home + " (from " + source + ") has no lib/ directory");
        }
        List<Path> jars;
        try (Stream<Path> files = Files.list(lib)) {
            jars = files.filter(f -> f.getFileName().toString().endsWith(".jar"))
                    .filter(f -> !f.getFileName().toString().startsWith(OWN_LIB_JAR_PREFIX))
                    .sorted()
                    .toList();
        }
        Path flinkJar = jars.stream().filter(j -> FLINK_JAR.matcher(j.getFileName().toString()).matches()).findFirst()
                .orElseThrow(() -> new IllegalArgumentException(lib + " (from " + source + ") holds no flink-dist or flink-core"
                        + " jar: not the lib/ directory of a Flink installation"));
        checkFlinkLine(flinkJar);
        List<URL> urls = new ArrayList<>();
        urls.add(ownJar().toUri().toURL()); // first: the inspector's own classes over any copy in lib/
        for (Path jar : jars) {
            urls.add(jar.toUri().toURL());
        }
        return new URLClassLoader("recovery-inspector", urls.toArray(URL[]::new), ClassLoader.getPlatformClassLoader());
    }

    /** Refuses a Flink of another line than this jar was compiled for: its classes differ. */
    static void checkFlinkLine(Path flinkJar) {
        Properties build = buildProperties();
        String line = build.getProperty("flink.line");
        Matcher m = FLINK_JAR.matcher(flinkJar.getFileName().toString());
        if (line == null || !m.matches()) {
            return;
        }
        String found = m.group(1) + "." + m.group(2);
        if (!found.equals(line)) {
            throw new IllegalArgumentException("This recovery inspector is built for Flink " + line + " (flink-recovery-inspector-"
                    + build.getProperty("version") + "-flink" + line + "-cli.jar), but " + flinkJar + " is Flink " + found
                    + ": use the -flink" + found + "-cli.jar of the same release");
        }
    }

    static Properties buildProperties() {
        Properties p = new Properties();
        try (InputStream in = Launcher.class.getResourceAsStream("/recovery-inspector.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            throw new IllegalStateException("Cannot read recovery-inspector.properties from the inspector's jar", e);
        }
        return p;
    }

    /**
     * The value of {@code --name VALUE} or {@code --name=VALUE}, wherever it stands; null if absent.
     * (The command line itself takes {@code --flink-home} after the command's name.)
     */
    static String optionValue(String[] args, String name) {
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals(name) && i + 1 < args.length) {
                return args[i + 1];
            }
            if (args[i].startsWith(name + "=")) {
                return args[i].substring(name.length() + 1);
            }
        }
        return null;
    }

    private static boolean flinkOnClassPath() {
        try {
            Class.forName("org.apache.flink.configuration.Configuration", false, Launcher.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    private static Path ownJar() {
        try {
            return Path.of(Launcher.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException("Cannot locate the inspector's jar", e);
        }
    }

    private static void invokeMain(ClassLoader loader, String mainClass, String[] args) throws Throwable {
        Class<?> main = Class.forName(mainClass, true, loader);
        MethodHandles.publicLookup()
                .findStatic(main, "main", MethodType.methodType(void.class, String[].class))
                .invoke((Object) args);
    }
}
