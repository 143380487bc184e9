package io.github.s3tiered.testing;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.Appender;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.Logger;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Property;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** What one class logs while an action runs, as "LEVEL message", through the tests' Log4j 2. */
public final class CapturedLogs {

    /** An action that may throw; its failure fails the test. */
    public interface Action {
        void run() throws Exception;
    }

    private CapturedLogs() {}

    public static List<String> during(Class<?> source, Action action) {
        List<String> events = Collections.synchronizedList(new ArrayList<>());
        Logger logger = (Logger) LogManager.getLogger(source);
        Appender capture = new AbstractAppender("capture-" + System.nanoTime(), null, null, true, Property.EMPTY_ARRAY) {
            @Override
            public void append(LogEvent event) {
                events.add(event.getLevel() + " " + event.getMessage().getFormattedMessage());
            }
        };
        capture.start();
        logger.addAppender(capture);
        try {
            action.run();
        } catch (Exception e) {
            throw new AssertionError("the action whose logs were captured failed", e);
        } finally {
            logger.removeAppender(capture);
        }
        return events;
    }
}
