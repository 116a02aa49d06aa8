package org.xraydl.data;

import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Reads the next batches of a DataSetIterator (decode, augment, normalise) on one background
 * thread into a bounded queue while the training thread fits. Unlike DL4J's AsyncDataSetIterator,
 * a reader exception is handed to the training thread and rethrown from {@code hasNext()}/{@code next()}
 * as the same exception, so a bad file fails the run with its own message instead of a hang.
 * The batches and their order are those of the wrapped iterator: it is still read by one thread,
 * in order, so its seeded augmentation draws the same numbers. The thread ends with the epoch,
 * on an exception, and on {@link #reset()} / {@link #close()}.
 */
public final class PrefetchingIterator implements DataSetIterator, AutoCloseable {
    public static final String THREAD_PREFIX = "xraydl-loader-";
    private static final AtomicInteger THREADS = new AtomicInteger();

    private record Item(DataSet batch, Throwable error) {
        static final Item END = new Item(null, null);
    }

    private final DataSetIterator source;
    private final int capacity;
    private BlockingQueue<Item> queue;
    private Thread thread;
    private AtomicBoolean stopFlag;
    private Item head;

    /** @param capacity batches decoded ahead of the training thread (memory: capacity x one batch) */
    public PrefetchingIterator(DataSetIterator source, int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("prefetch capacity must be at least 1, got " + capacity);
        }
        this.source = source;
        this.capacity = capacity;
    }

    private void start() {
        queue = new ArrayBlockingQueue<>(capacity);
        BlockingQueue<Item> q = queue;
        AtomicBoolean stop = new AtomicBoolean();
        stopFlag = stop;
        thread = new Thread(() -> {
            try {
                while (!stop.get() && source.hasNext()) {
                    offer(q, new Item(source.next(), null), stop);
                }
                offer(q, Item.END, stop);
            } catch (InterruptedException e) {
                // closed by the training thread: nobody reads the queue any more
            } catch (Throwable t) {
                try {
                    offer(q, new Item(null, t), stop); // after the batches before it, which the consumer takes first
                } catch (InterruptedException ignored) {
                    // closed meanwhile
                }
            }
        }, THREAD_PREFIX + THREADS.incrementAndGet());
        thread.setDaemon(true); // never keeps a JVM alive, even if close() is not reached
        thread.start();
    }

    /** Waits for room in the queue until the consumer closes (checked even if a library swallowed the interrupt). */
    private static void offer(BlockingQueue<Item> q, Item item, AtomicBoolean stop) throws InterruptedException {
        while (!q.offer(item, 50, TimeUnit.MILLISECONDS)) {
            if (stop.get()) {
                throw new InterruptedException("loader closed");
            }
        }
    }

    @Override
    public boolean hasNext() {
        if (head == null) {
            if (thread == null && queue == null) {
                start();
            }
            if (queue == null) {
                return false; // ended: END or an error was already consumed
            }
            try {
                head = queue.take();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                close();
                throw new IllegalStateException("interrupted while waiting for the next training batch", e);
            }
            if (head == Item.END || head.error() != null) {
                Item last = head;
                close();
                head = last;
            }
        }
        if (head.error() != null) {
            Throwable t = head.error();
            if (t instanceof RuntimeException r) {
                throw r;
            }
            if (t instanceof Error e) {
                throw e;
            }
            throw new IllegalStateException(t.getMessage(), t);
        }
        return head != Item.END;
    }

    @Override
    public DataSet next() {
        if (!hasNext()) {
            throw new NoSuchElementException("no more training batches in this epoch");
        }
        DataSet ds = head.batch();
        head = null;
        return ds;
    }

    @Override
    public DataSet next(int num) {
        throw new UnsupportedOperationException("the prefetching loader hands out whole batches: use next()");
    }

    /** Stops the background thread and waits for it; batches not yet taken are dropped. */
    @Override
    public void close() {
        Thread t = thread;
        if (t != null) {
            stopFlag.set(true);
            t.interrupt();
            queue.clear();
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        thread = null;
        queue = null;
        head = Item.END;
    }

    @Override
    public void reset() {
        close();
        source.reset();
        head = null;
    }

    @Override
    public boolean resetSupported() {
        return source.resetSupported();
    }

    @Override
    public boolean asyncSupported() {
        return false; // already asynchronous: DL4J must not wrap it in its own AsyncDataSetIterator
    }

    @Override
    public int inputColumns() {
        return source.inputColumns();
    }

    @Override
    public int totalOutcomes() {
        return source.totalOutcomes();
    }

    @Override
    public int batch() {
        return source.batch();
    }

    @Override
    public void setPreProcessor(DataSetPreProcessor preProcessor) {
        if (thread != null) {
            throw new IllegalStateException("set the pre-processor before the first batch is read");
        }
        source.setPreProcessor(preProcessor);
    }

    @Override
    public DataSetPreProcessor getPreProcessor() {
        return source.getPreProcessor();
    }

    @Override
    public List<String> getLabels() {
        return source.getLabels();
    }
}
