package org.xraydl.model.io;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.ObjectInputFilter;

/**
 * Second layer behind {@link ModelZip}'s entry check: while a thread reads a model file, every
 * {@code ObjectInputStream} that thread creates gets a filter that allows only a few value classes
 * and caps depth, references, array length and bytes (so even a nested-collection "bomb" stops at
 * once). Installed process-wide as a JDK serial filter factory; other threads and other code (Spark
 * task serialization, for one) keep the JVM's usual filter.
 */
public final class DeserializationGuard {
    private static final Logger log = LoggerFactory.getLogger(DeserializationGuard.class);

    /** Nothing a model file needs: a model zip read by this program holds no Java serialization at all. */
    static final ObjectInputFilter MODEL_FILES = ObjectInputFilter.Config.createFilter(
            "maxdepth=4;maxrefs=1000;maxarray=10000;maxbytes=65536;"
                    + "java.lang.String;java.lang.Boolean;java.lang.Integer;java.lang.Long;java.lang.Float;java.lang.Double;java.lang.Number;!*");

    private static final ThreadLocal<Boolean> READING_MODEL_FILE = ThreadLocal.withInitial(() -> false);
    private static volatile Boolean installed;

    private DeserializationGuard() {
    }

    /** Code that reads a model file. */
    @FunctionalInterface
    public interface ModelFileRead<T> {
        T read() throws IOException;
    }

    /**
     * Installs the filter factory (once per JVM). The JDK allows that only before the first
     * {@code ObjectInputStream} of the process, so the CLI calls this first thing; when it is too late
     * (or another factory is set) the entry check of {@link ModelZip} is still in force.
     *
     * @return true if this guard's factory is in place
     */
    public static synchronized boolean install() {
        if (installed == null) {
            try {
                ObjectInputFilter.Config.setSerialFilterFactory(
                        (current, requested) -> READING_MODEL_FILE.get() ? MODEL_FILES : requested);
                installed = true;
            } catch (IllegalStateException e) {
                log.debug("deserialization guard not installed: {}", e.getMessage());
                installed = false;
            }
        }
        return installed;
    }

    /** Runs {@code read} with the strict filter on every ObjectInputStream this thread creates meanwhile. */
    public static <T> T whileReadingModelFile(ModelFileRead<T> read) throws IOException {
        install();
        boolean outer = READING_MODEL_FILE.get();
        READING_MODEL_FILE.set(true);
        try {
            return read.read();
        } finally {
            READING_MODEL_FILE.set(outer);
        }
    }
}
