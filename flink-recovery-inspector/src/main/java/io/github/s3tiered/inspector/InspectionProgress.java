package io.github.s3tiered.inspector;

/** Told what a long inspection is doing, so that a command line can show progress. */
@FunctionalInterface
public interface InspectionProgress {

    InspectionProgress NONE = message -> {};

    void step(String message);
}
