package org.xraydl.train;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * End-of-epoch memory housekeeping, and the resident size it leaves.
 *
 * <p>ND4J keeps array data off the Java heap and frees it only after the garbage collector has
 * collected the small Java object that owns it (its DeallocatorService then frees the buffer).
 * An epoch makes many such arrays (decoded images, normalised batches, per-batch copies in
 * validation) and comparatively little heap garbage, so collections are rare and the buffers of
 * dead arrays pile up off-heap; glibc keeps what it once handed out, and G1 grows its heap towards
 * -Xmx meanwhile. Measured on config/default.yaml (docs/reliability.md): resident size rose every
 * epoch. One full collection per epoch frees the epoch's dead buffers while they are still
 * reusable and lets G1 give unused heap back, so the resident size levels off.
 */
final class EpochMemory {

    private EpochMemory() {
    }

    /** Collects the epoch's garbage (and with it ND4J's dead off-heap buffers); returns the resident size in MB. */
    static long settle() {
        System.gc();
        GlibcTrim.trim();
        return residentMegabytes();
    }

    /**
     * Threads this JVM has started so far. glibc gives a new thread a malloc arena of its own (up to
     * 8 per core) and keeps what was freed there, so a count that rises every epoch is a lead for a creep.
     */
    static long threadsStarted() {
        return ManagementFactory.getThreadMXBean().getTotalStartedThreadCount();
    }

    /** VmRSS of this process in MB from /proc/self/status, or -1 where there is no such file (not Linux). */
    static long residentMegabytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
                }
            }
        } catch (IOException | RuntimeException notLinux) {
            // the measurement is informative only
        }
        return -1;
    }
}
