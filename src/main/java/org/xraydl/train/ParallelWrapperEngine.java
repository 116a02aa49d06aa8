package org.xraydl.train;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

import java.util.List;

/**
 * Data-parallel training with DL4J's ParallelWrapper: one model replica per worker (per GPU with
 * the CUDA backend, per thread on CPU), parameters averaged after every iteration, the analogue of
 * PyTorch's DataParallel in the paper. One wrapper is kept for all epochs.
 */
public class ParallelWrapperEngine implements TrainingEngine {
    private final int workers;
    private final ParallelWrapper.TrainingMode mode;
    private ParallelWrapper wrapper;

    public ParallelWrapperEngine(int workers, ParallelWrapper.TrainingMode mode) {
        this.workers = workers;
        this.mode = mode;
    }

    @Override
    public String name() {
        return "parallel-wrapper(" + workers + ", " + mode + ")";
    }

    @Override
    public void start(ComputationGraph net, List<TrainingListener> listeners) {
        wrapper = new ParallelWrapper.Builder<>(net)
                .workers(workers)
                .prefetchBuffer(2 * workers)
                .averagingFrequency(1)
                .reportScoreAfterAveraging(true)
                .trainingMode(mode)
                .build();
        if (!listeners.isEmpty()) {
            wrapper.setListeners(listeners);
        }
    }

    @Override
    public long fitEpoch(ComputationGraph net, EpochData data) {
        DataSetIterator train = data.iterator().get();
        wrapper.fit(train);
        return Trainer.imagesSeen(train);
    }

    @Override
    public void close() {
        if (wrapper != null) {
            try {
                wrapper.close();
            } catch (Exception e) {
                throw new IllegalStateException("ParallelWrapper did not shut down cleanly", e);
            }
        }
    }
}
