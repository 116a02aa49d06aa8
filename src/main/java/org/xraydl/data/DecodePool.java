package org.xraydl.data;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.IntConsumer;

/**
 * The threads that decode the images of a batch ({@code decodeThreads}): the thread asking for the batch
 * (the training thread, or the {@link LoaderThread}) plus {@code threads - 1} helper threads, which take the
 * batch's images one at a time until none is left. Made once per run (or per evaluate command) and closed
 * with it, like the loader thread: glibc gives every new thread a malloc arena of its own, so threads are
 * not made per batch or per epoch. The helpers are daemons, so a missed close never keeps the JVM alive;
 * between batches they sleep.
 *
 * <p>Which thread decodes which image does not matter: every image is written into its own row of the
 * batch, with its own transform (and random numbers, {@link ImageRandom}), so the batch is the same for any
 * number of threads.
 */
public final class DecodePool implements AutoCloseable {
    public static final String THREAD_PREFIX = "xraydl-decode-";
    private static final AtomicInteger POOLS = new AtomicInteger();

    private final int threads;
    private final String prefix;
    private final ExecutorService helpers;
    private final List<Thread> started = new ArrayList<>();
    private volatile boolean closed;

    private DecodePool(int threads) {
        this.threads = threads;
        this.prefix = THREAD_PREFIX + POOLS.incrementAndGet() + "-";
        AtomicInteger n = new AtomicInteger();
        this.helpers = threads <= 1 ? null : Executors.newFixedThreadPool(threads - 1, r -> {
            Thread t = new Thread(r, prefix + n.incrementAndGet());
            t.setDaemon(true);
            synchronized (started) {
                started.add(t);
            }
            return t;
        });
    }

    /**
     * A pool decoding on {@code threads} threads in all, the caller's included: 1 = the caller alone (no
     * helper thread), 0 = one per available processor.
     */
    public static DecodePool of(int threads) {
        if (threads < 0) {
            throw new IllegalArgumentException("decode threads must be >= 0 (0 = one per available processor), got " + threads);
        }
        return new DecodePool(resolve(threads));
    }

    /** The thread count {@code decodeThreads} stands for: itself, or the number of available processors for 0. */
    public static int resolve(int decodeThreads) {
        return decodeThreads > 0 ? decodeThreads : Runtime.getRuntime().availableProcessors();
    }

    /** Threads that decode a batch, the caller's included. */
    public int threads() {
        return threads;
    }

    /** The name prefix of this pool's helper threads (for tests that look for leaks). */
    public String threadNamePrefix() {
        return prefix;
    }

    /**
     * Runs {@code task} for 0..n-1, on the calling thread and the helpers, and returns when all have run. If
     * any failed, the failure of the lowest index is thrown (the same one for any number of threads), after
     * every index has run. {@code task} must be safe to run for different indices at once.
     *
     * @param pool null: everything on the calling thread
     */
    static void forEach(DecodePool pool, int n, IntConsumer task) {
        if (pool == null) {
            run(n, task, 1, null);
        } else {
            if (pool.closed) {
                throw new IllegalStateException("the image decoding threads are closed");
            }
            run(n, task, pool.threads, pool.helpers);
        }
    }

    private static void run(int n, IntConsumer task, int threads, ExecutorService helpers) {
        if (n <= 0) {
            return;
        }
        AtomicInteger next = new AtomicInteger();
        AtomicReferenceArray<Throwable> errors = new AtomicReferenceArray<>(n);
        CountDownLatch done = new CountDownLatch(n);
        Runnable worker = () -> {
            for (int i = next.getAndIncrement(); i < n; i = next.getAndIncrement()) {
                try {
                    task.accept(i);
                } catch (Throwable t) {
                    errors.set(i, t);
                } finally {
                    done.countDown();
                }
            }
        };
        if (helpers != null) {
            for (int k = 0; k < Math.min(threads - 1, n - 1); k++) {
                try {
                    helpers.execute(worker); // a helper that starts after the last image was taken returns at once
                } catch (RejectedExecutionException e) {
                    break; // closed meanwhile: the caller decodes the rest
                }
            }
        }
        worker.run();
        awaitUninterruptibly(done); // the helpers write into the caller's arrays: never leave before they are done
        for (int i = 0; i < n; i++) {
            Throwable t = errors.get(i);
            if (t instanceof RuntimeException r) {
                throw r;
            }
            if (t instanceof Error e) {
                throw e;
            }
            if (t != null) {
                throw new IllegalStateException(t.getMessage(), t);
            }
        }
    }

    private static void awaitUninterruptibly(CountDownLatch latch) {
        boolean interrupted = false;
        while (true) {
            try {
                latch.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Ends the helper threads and joins them (a batch being decoded is finished first). */
    @Override
    public void close() {
        closed = true;
        if (helpers == null) {
            return;
        }
        helpers.shutdown();
        List<Thread> all;
        synchronized (started) {
            all = new ArrayList<>(started);
        }
        boolean interrupted = false;
        for (Thread t : all) {
            while (t.isAlive()) {
                try {
                    t.join(); // not just awaitTermination(): the pool reports terminated before its threads have ended
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
