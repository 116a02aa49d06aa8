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
    private ProgressBar bar;
    private long images;

    public ProgressIterator(DataSetIterator delegate, long expectedImages, String task, boolean show) {
        this.delegate = delegate;
        this.expectedImages = expectedImages;
        this.task = task;
        this.show = show;
    }

    public long images() {
        return images;
    }

    public void finish() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }

    @Override
    public DataSet next(int num) {
        return count(delegate.next(num));
    }

    @Override
    public DataSet next() {
        return count(delegate.next());
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
        // decoding on the training thread costs little on 2 cores and fails loudly.
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
        return delegate.hasNext();
    }
}
