package io.github.s3tiered.tier;

import java.io.IOException;
import java.nio.file.AccessDeniedException;

/**
 * A read of a local-tier file that failed for a reason of this process or host, not of the file:
 * no descriptor left (EMFILE, ENFILE), no permission (a copy written by another user sharing the
 * directory). The copy is then passed over for this read, neither dropped nor counted as damaged:
 * its bytes were never seen. Told by the exception's type, else by the error's text in the C locale
 * (in another locale such a failure still counts as damage, as any other failed read does).
 */
final class HostSideReadFailure {

    private static final String[] TEXTS = {"Too many open files", "Permission denied"};

    private HostSideReadFailure() {}

    static boolean is(IOException e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof AccessDeniedException) {
                return true;
            }
            String m = t.getMessage();
            if (m != null) {
                for (String text : TEXTS) {
                    if (m.contains(text)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }
}
