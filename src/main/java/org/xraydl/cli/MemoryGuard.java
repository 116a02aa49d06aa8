package org.xraydl.cli;

import org.bytedeco.javacpp.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * The process's resident-memory ceiling, checked by one daemon thread a few times a second.
 *
 * <p>Why not JavaCPP's own ceiling ({@code org.bytedeco.javacpp.maxphysicalbytes}): JavaCPP checks it
 * at every native pointer it registers, by reading {@code /proc/self/statm}; an ND4J op registers
 * several, so a compact DenseNet training step read that file ~7,400 times (counted with strace),
 * about 6 % of the training thread's time. {@code .mvn/jvm.config} therefore sets it to 0 (off) and
 * this guard keeps the protection: above the limit it asks for a collection (ND4J frees native
 * buffers when their Java objects are collected), and if the next reading is still above, it stops
 * the process with one line naming the limit and the fix, as JavaCPP's check would have (with a stack
 * trace). Run folders stay consistent: every checkpoint is written to a temporary file and renamed,
 * and {@code --resume} continues from the last completed epoch.
 *
 * <p>Limit: {@code -D}{@value #LIMIT_PROPERTY} (bytes, or with a k/m/g/t suffix), else 90 % of the
 * machine's physical memory. Off when JavaCPP's own ceiling is on (it then does the job) or with
 * {@code -D}{@value #LIMIT_PROPERTY}{@code =0}.
 */
public final class MemoryGuard {
    public static final String LIMIT_PROPERTY = "xraydl.maxResidentBytes";
    static final long PERIOD_MS = 100;
    private static final Logger log = LoggerFactory.getLogger(MemoryGuard.class);
    private static final AtomicBoolean STARTED = new AtomicBoolean();

    private final long limitBytes;
    private final LongSupplier residentBytes;
    private final Runnable collect;
    private final Consumer<String> stop;
    private boolean collectedLastTime;

    MemoryGuard(long limitBytes, LongSupplier residentBytes, Runnable collect, Consumer<String> stop) {
        this.limitBytes = limitBytes;
        this.residentBytes = residentBytes;
        this.collect = collect;
        this.stop = stop;
    }

    /** Starts the process-wide guard once (later calls do nothing); returns whether a guard is running. */
    public static boolean startForProcess() {
        if (Pointer.maxPhysicalBytes() > 0) {
            return false; // JavaCPP checks at every allocation
        }
        long limit = limitFromProperty(System.getProperty(LIMIT_PROPERTY), Pointer.totalPhysicalBytes());
        if (limit <= 0 || !STARTED.compareAndSet(false, true)) {
            return STARTED.get();
        }
        MemoryGuard guard = new MemoryGuard(limit, Pointer::physicalBytes, System::gc, message -> {
            System.err.println("error: " + message);
            System.err.flush();
            Runtime.getRuntime().halt(3);
        });
        Thread t = new Thread(() -> {
            try {
                while (true) {
                    Thread.sleep(PERIOD_MS);
                    guard.check();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "xraydl-memory-guard");
        t.setDaemon(true);
        t.start();
        log.debug("memory guard: limit {}", Pointer.formatBytes(limit));
        return true;
    }

    /** The limit in bytes: the property if set (0 = off), else 90 % of the machine's memory. */
    static long limitFromProperty(String value, long physicalBytes) {
        if (value == null || value.isBlank()) {
            return physicalBytes > 0 ? physicalBytes / 10 * 9 : 0;
        }
        try {
            return Pointer.parseBytes(value.trim(), physicalBytes);
        } catch (NumberFormatException e) {
            throw new org.xraydl.UserError("-D" + LIMIT_PROPERTY + "=" + value
                    + " is not a size: give bytes or a number with k, m, g or t (e.g. 20g), or 0 for no limit");
        }
    }

    /** One reading: collect once when above the limit, stop if still above at the next reading. */
    void check() {
        long rss = residentBytes.getAsLong();
        if (rss <= limitBytes) {
            collectedLastTime = false;
            return;
        }
        if (!collectedLastTime) {
            collectedLastTime = true;
            collect.run();
            return;
        }
        stop.accept(String.format(Locale.ROOT, "out of memory: the process uses %s, above its limit of %s "
                        + "(-D%s, default 90%% of this machine's memory). Lower batchSize or imageSize, or use a smaller "
                        + "model; a stopped training run continues from its last completed epoch with --resume.",
                Pointer.formatBytes(rss), Pointer.formatBytes(limitBytes), LIMIT_PROPERTY));
    }
}
