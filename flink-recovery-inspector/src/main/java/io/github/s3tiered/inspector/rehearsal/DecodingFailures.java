package io.github.s3tiered.inspector.rehearsal;

import java.util.regex.Pattern;

/**
 * Tells damage from a missing class. Serializer snapshots name classes: Flink's own, the JDK's,
 * and the job's. The inspector always has the first two; it has the job's only when the caller
 * says so. A class that cannot be found is damage when it would be one of those the inspector
 * has: Flink's or the JDK's, including a name one byte away from such a package (a damaged byte
 * in {@code org.apache.flink.} must not pass as an unknown job class). Otherwise the state could
 * not be decoded here, which proves nothing either way.
 */
final class DecodingFailures {

    private static final String[] OWN_PREFIXES = {"org.apache.flink.", "java.", "javax.", "scala.", "sun.", "jdk."};
    private static final Pattern BINARY_NAME =
            Pattern.compile("[\\p{javaJavaIdentifierStart}][\\p{javaJavaIdentifierPart}]*(\\.[\\p{javaJavaIdentifierStart}][\\p{javaJavaIdentifierPart}]*)*(\\$[\\p{javaJavaIdentifierPart}]+)*");

    private DecodingFailures() {}

    /** Classifies a failure of decoding {@code what}. */
    static StateDecodingException classify(String what, Throwable failure, RehearsalContext ctx) {
        if (failure instanceof StateDecodingException sde) {
            return sde;
        }
        String missing = missingClass(failure);
        if (missing != null && !ctx.jobClassesComplete() && !isOwnOrNear(missing) && BINARY_NAME.matcher(missing).matches()) {
            return new StateDecodingException(what + " needs class " + missing + ", which is not on the inspector's class path"
                    + " (pass the job's jar): its content could not be decoded here", false, failure);
        }
        if (failure instanceof OutOfMemoryError) {
            return new StateDecodingException(what + ": a length in it asks for more memory than this process has", true, failure);
        }
        return new StateDecodingException(what + ": " + describe(failure), true, failure);
    }

    static String missingClass(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof ClassNotFoundException || c instanceof NoClassDefFoundError) {
                String m = c.getMessage();
                return m == null ? "" : m.replace('/', '.').trim();
            }
        }
        return null;
    }

    static boolean isOwnOrNear(String className) {
        for (String prefix : OWN_PREFIXES) {
            if (className.startsWith(prefix) || withinOneByte(className, prefix)) {
                return true;
            }
        }
        return false;
    }

    private static boolean withinOneByte(String name, String prefix) {
        if (name.length() < prefix.length()) {
            return false;
        }
        int differences = 0;
        for (int i = 0; i < prefix.length(); i++) {
            if (name.charAt(i) != prefix.charAt(i) && ++differences > 1) {
                return false;
            }
        }
        return true;
    }

    static String describe(Throwable e) {
        Throwable root = e;
        StringBuilder sb = new StringBuilder();
        for (Throwable c = e; c != null && sb.length() < 400; c = c.getCause() == c ? null : c.getCause()) {
            root = c;
            String m = c.getMessage();
            if (sb.length() > 0) {
                sb.append(" <- ");
            }
            sb.append(c.getClass().getSimpleName());
            if (m != null && !m.isBlank()) {
                sb.append(": ").append(m.length() > 200 ? m.substring(0, 200) + "..." : m);
            }
            if (c.getCause() == null) {
                break;
            }
        }
        return sb.length() == 0 ? root.toString() : sb.toString();
    }
}
