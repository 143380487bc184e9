package io.github.s3tiered.inspector;

/**
 * One reason a checkpoint cannot be restored.
 *
 * @param verdict the category
 * @param file the file concerned, or null for a problem of the checkpoint as a whole
 * @param reason what was expected and what was found, for a human
 */
public record Problem(Verdict verdict, String file, String reason) {

    @Override
    public String toString() {
        return file == null ? verdict + ": " + reason : verdict + ": " + file + ": " + reason;
    }
}
