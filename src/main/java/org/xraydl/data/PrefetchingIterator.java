package org.xraydl.data;

import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Reads the next batches of a DataSetIterator (decode, augment, normalise) on the run's
 * {@link LoaderThread} into a bounded queue while the training thread fits. Unlike DL4J's
 * AsyncDataSetIterator, a reader exception is handed to the training thread and rethrown from
 * {@code hasNext()}/{@code next()} as the same exception, so a bad file fails the run with its own
 * message instead of a hang. The batches and their order are those of the wrapped iterator: it is
 * still read by one thread, in order (its images decoded on the run's {@link DecodePool} as they would be
 * on the training thread; each image's augmentation depends on its seed and position only). A pass over
 * the source ends with the epoch, on an exception, and on {@link #reset()} / {@link #close()}; the
 * loader thread itself lives on for the next epoch. Made by {@link LoaderThread#prefetch}.
 */
public final class PrefetchingIterator implements DataSetIterator, AutoCloseable {

    private record Item(DataSet batch, Throwable error) {
        static final Item END = new Item(null, null);
    }

    private final DataSetIterator source;
    private final int capacity;
    private final LoaderThread loader;
    private Pass pass;
    private Item head;

    /** @param capacity batches decoded ahead of the training thread (memory: capacity x one batch) */
    PrefetchingIterator(DataSetIterator source, int capacity, LoaderThread loader) {
        if (capacity < 1) {
            throw new IllegalArgumentException("prefetch capacity must be at least 1, got " + capacity);
        }
        this.source = source;
        this.capacity = capacity;
        this.loader = loader;
    }

    /** One pass over the source on the loader thread, until its end, an error, or a stop. */
    private final class Pass implements Runnable {
        final BlockingQueue<Item> queue = new ArrayBlockingQueue<>(capacity);
        volatile boolean stop;
        Future<?> running;

        @Override
        public void run() {
            try {
                while (!stopped() && source.hasNext()) {
                    offer(new Item(source.next(), null));
                }
                if (!stop) {
                    offer(loader.isClosed() ? closedDuringEpoch() : Item.END);
                }
            } catch (InterruptedException e) {
                // stopped while the queue was full: nobody reads it any more
            } catch (Throwable t) {
                try {
                    offer(new Item(null, t)); // after the batches before it, which the consumer takes first
                } catch (InterruptedException ignored) {
                    // stopped meanwhile
                }
            }
        }

        private boolean stopped() {
            return stop || loader.isClosed();
        }

        /** The loader closed under a reader: hand it an error rather than a short epoch (a stopped pass is not read). */
        private Item closedDuringEpoch() {
            queue.clear();
            return new Item(null, new IllegalStateException("the training data loader thread was closed during the epoch"));
        }

        /**
         * Waits for room in the queue until the consumer stops this pass. No interrupts: the thread serves
         * the next epochs too, and an interrupt left on it would make their file reads fail.
         */
        private void offer(Item item) throws InterruptedException {
            while (!queue.offer(item, 50, TimeUnit.MILLISECONDS)) {
                if (stop) {
                    throw new InterruptedException("pass stopped");
                }
                if (loader.isClosed() && item.error() == null) {
                    item = closedDuringEpoch();
                }
            }
        }

        /** Stops the pass and waits until the loader thread has left the source (at most the batch it is decoding). */
        void stopAndWait() {
            stop = true;
            queue.clear();
            try {
                running.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException e) {
                throw new IllegalStateException("training data loader failed: " + e.getCause(), e.getCause()); // run() catches everything
            }
        }
    }

    @Override
    public boolean hasNext() {
        if (head == null) {
            if (pass == null) {
                pass = new Pass();
                pass.running = loader.submit(pass);
            }
            try {
                head = pass.queue.take();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                close();
                throw new IllegalStateException("interrupted while waiting for the next training batch", e);
            }
            if (head == Item.END || head.error() != null) {
                pass.stopAndWait(); // returns at once: the pass ended with this item
                pass = null;
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

    /** Stops this iterator's pass and waits for the loader thread to leave the source; batches not yet taken are dropped. */
    @Override
    public void close() {
        if (pass != null) {
            pass.stopAndWait();
            pass = null;
        }
        head = Item.END;
    }

    @Override
    public void reset() {
        close(); // the source is never reset while the loader thread reads it
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
        if (pass != null) {
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
