package org.xraydl.train;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

import java.util.List;

/**
 * Wraps a training iterator: counts the images handed to the engine and drives a progress bar
 * (img/s, ETA) for the epoch. Works the same for every engine, since all of them pull batches here.
 */
public class ProgressIterator implements DataSetIterator {
    private final DataSetIterator delegate;
    private final long expectedImages;
    private final String task;
    private final boolean show;
    private final StageTimes times;
    private ProgressBar bar;
    private long images;

    public ProgressIterator(DataSetIterator delegate, long expectedImages, String task, boolean show) {
        this(delegate, expectedImages, task, show, null);
    }

    /** @param times where the time spent waiting for batches goes ({@link StageTimes.Stage#DATA_WAIT}), or null */
    public ProgressIterator(DataSetIterator delegate, long expectedImages, String task, boolean show, StageTimes times) {
        this.delegate = delegate;
        this.expectedImages = expectedImages;
        this.task = task;
        this.show = show;
        this.times = times;
    }

    public long images() {
        return images;
    }

    /** Ends the progress bar and stops a prefetching iterator's pass on the loader thread (a no-op after a complete epoch). */
    public void finish() {
        if (delegate instanceof AutoCloseable closeable) {
            try {
                closeable.close();
            } catch (Exception e) {
                throw new IllegalStateException("training data loader did not shut down", e);
            }
        }
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }

    @Override
    public DataSet next(int num) {
        long t0 = System.nanoTime();
        DataSet ds = delegate.next(num);
        waited(t0);
        return count(ds);
    }

    @Override
    public DataSet next() {
        long t0 = System.nanoTime();
        DataSet ds = delegate.next();
        waited(t0);
        return count(ds);
    }

    private void waited(long t0) {
        if (times != null) {
            times.add(StageTimes.Stage.DATA_WAIT, System.nanoTime() - t0);
        }
    }

    private DataSet count(DataSet ds) {
        if (show && bar == null) {
            bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(expectedImages).setUnit(" img", 1)
                    .setStyle(ProgressBarStyle.ASCII).showSpeed().setUpdateIntervalMillis(500).build();
        }
        images += ds.numExamples();
        if (bar != null) {
            bar.stepBy(ds.numExamples());
        }
        return ds;
    }

    @Override
    public int inputColumns() {
        return delegate.inputColumns();
    }

    @Override
    public int totalOutcomes() {
        return delegate.totalOutcomes();
    }

    @Override
    public boolean resetSupported() {
        return delegate.resetSupported();
    }

    @Override
    public boolean asyncSupported() {
        // DL4J's async prefetch thread swallows a reader exception and fit() then waits forever;
        // data/PrefetchingIterator (loaderThreads > 0) prefetches instead and rethrows reader errors.
        return false;
    }

    @Override
    public void reset() {
        delegate.reset();
    }

    @Override
    public int batch() {
        return delegate.batch();
    }

    @Override
    public void setPreProcessor(DataSetPreProcessor preProcessor) {
        delegate.setPreProcessor(preProcessor);
    }

    @Override
    public DataSetPreProcessor getPreProcessor() {
        return delegate.getPreProcessor();
    }

    @Override
    public List<String> getLabels() {
        return delegate.getLabels();
    }

    @Override
    public boolean hasNext() {
        long t0 = System.nanoTime();
        boolean more = delegate.hasNext();
        waited(t0); // a prefetching loader may block here until the next batch is decoded
        return more;
    }
}
