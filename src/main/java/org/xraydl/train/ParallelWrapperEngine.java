package org.xraydl.train;

import org.xraydl.kernels.FastLayerTrainers;

import org.deeplearning4j.core.storage.StatsStorageRouter;
import org.deeplearning4j.core.storage.listener.RoutingIterationListener;
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
    /** Parameter averaging after every iteration; the fast-layer trainer factory exists for this mode only. */
    private static final ParallelWrapper.TrainingMode MODE = ParallelWrapper.TrainingMode.AVERAGING;
    private final int workers;
    private ParallelWrapper wrapper;

    public ParallelWrapperEngine(int workers) {
        this.workers = workers;
    }

    @Override
    public String name() {
        return "parallel-wrapper(" + workers + ", " + MODE + ")";
    }

    @Override
    public void start(ComputationGraph net, List<TrainingListener> listeners) {
        wrapper = new ParallelWrapper.Builder<>(net)
                .workers(workers)
                .prefetchBuffer(2 * workers)
                .averagingFrequency(1)
                .reportScoreAfterAveraging(true)
                .trainingMode(MODE)
                .build();
        FastLayerTrainers.install(wrapper);
        if (!listeners.isEmpty()) {
            // With the router given here, each worker gets its own clone of a StatsListener (same session,
            // its own worker ID) posting to that router, so the UI sees every worker.
            wrapper.setListeners(statsRouter(listeners), listeners);
        }
    }

    /** The router of the first routing listener (e.g. the UI's StatsListener), or null if there is none. */
    static StatsStorageRouter statsRouter(List<TrainingListener> listeners) {
        for (TrainingListener l : listeners) {
            if (l instanceof RoutingIterationListener r && r.getStorageRouter() != null) {
                return r.getStorageRouter();
            }
        }
        return null;
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
