package org.xraydl.train;

import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Optional;

/**
 * glibc's {@code malloc_trim(0)}: hands the free pages inside malloc's heaps back to the system.
 * ND4J and OpenCV allocate their buffers with malloc; after an epoch's arrays are freed, glibc keeps
 * the holes between live blocks resident, so the process's resident size drifts up over a long run
 * even though it is not using more. Called once per epoch after the collection (a few ms). Where
 * there is no glibc (macOS, Windows, musl) nothing is trimmed: one warning, the run goes on.
 */
final class GlibcTrim {
    private static final Logger log = LoggerFactory.getLogger(GlibcTrim.class);
    private static Optional<Function> mallocTrim;

    private GlibcTrim() {
    }

    /** Trims; true if glibc handed memory back, false if there was none to give or no glibc. */
    static synchronized boolean trim() {
        return function().map(f -> f.invokeInt(new Object[]{0}) == 1).orElse(false);
    }

    static synchronized boolean available() {
        return function().isPresent();
    }

    private static Optional<Function> function() {
        if (mallocTrim == null) {
            mallocTrim = lookup();
        }
        return mallocTrim;
    }

    private static Optional<Function> lookup() {
        try {
            return Optional.of(NativeLibrary.getInstance("c").getFunction("malloc_trim"));
        } catch (UnsatisfiedLinkError | RuntimeException noGlibc) {
            log.warn("malloc_trim is not available here ({}): memory freed by native libraries is not handed back "
                    + "between epochs", noGlibc.getMessage());
            return Optional.empty();
        }
    }
}
