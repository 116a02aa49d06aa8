package org.xraydl.data;

import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The one background thread a training run decodes its batches on, shared by every epoch's
 * {@link PrefetchingIterator}. One thread for the whole run, not one per epoch: glibc gives each new
 * thread its own malloc arena and keeps what was freed there, so a thread per epoch grew resident
 * memory by ~38 % over 12 epochs (docs/reliability.md). Close it when the run ends; it is a daemon
 * so that a missed close never keeps the JVM alive.
 */
public final class LoaderThread implements AutoCloseable {
    public static final String THREAD_PREFIX = "xraydl-loader-";
    private static final AtomicInteger THREADS = new AtomicInteger();

    private final ExecutorService executor = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, THREAD_PREFIX + THREADS.incrementAndGet());
        t.setDaemon(true);
        thread = t;
        return t;
    });
    /** The executor's one thread, made at the first pass, for close() to join. */
    private volatile Thread thread;
    private Future<?> current;

    /** Prefetches {@code source} on this thread, {@code capacity} batches ahead. */
    public PrefetchingIterator prefetch(DataSetIterator source, int capacity) {
        return new PrefetchingIterator(source, capacity, this);
    }

    /** Runs one pass of an iterator; only one at a time, since one thread cannot fill two queues that are read in turn. */
    synchronized Future<?> submit(Runnable pass) {
        if (current != null && !current.isDone()) {
            throw new IllegalStateException("the loader thread is still reading another iterator: close that one first");
        }
        try {
            current = executor.submit(pass); // submit, not execute: nothing a pass throws can end the thread
            return current;
        } catch (RejectedExecutionException e) {
            throw new IllegalStateException("the training data loader thread is closed", e);
        }
    }

    boolean isClosed() {
        return executor.isShutdown();
    }

    /** Ends the thread and joins it: a pass still reading stops after the batch it is decoding. */
    @Override
    public void close() {
        executor.shutdown(); // queued passes still run, see isClosed() and stop at once
        Thread t = thread;
        if (t != null) {
            try {
                t.join(); // not just awaitTermination(): the pool reports terminated before its thread has ended
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
