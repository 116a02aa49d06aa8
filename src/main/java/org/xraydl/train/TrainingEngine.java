package org.xraydl.train;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.TrainingListener;

import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.xraydl.evaluate.Evaluator;
import org.xraydl.evaluate.Predictions;

import java.util.List;
import java.util.function.Supplier;

/**
 * A back-end that runs one epoch of training: plain fit(), ParallelWrapper, or Spark. The
 * epoch loop, validation, history and checkpoints live in {@link Trainer} and are the same for all.
 */
public interface TrainingEngine extends AutoCloseable {
    // Constructors only validate (they run before the run folder is created); take resources in start().

    /** Short name for logs and provenance, e.g. "local", "parallel-wrapper(2)". */
    String name();

    /**
     * Whether the listeners given to {@link #start} run as they are, in this JVM, so that a timing
     * wrapper around them is safe. ParallelWrapper clones routing listeners per worker and Spark picks
     * listeners out by type and ships them to executors: both need the listeners unwrapped.
     */
    default boolean runsListenersInPlace() {
        return false;
    }

    /** Called once before the first epoch with the network and the listeners to attach. */
    void start(ComputationGraph net, List<TrainingListener> listeners);

    /** One pass over the epoch's data; parameters of {@code net} are up to date afterwards. Returns images seen. */
    long fitEpoch(ComputationGraph net, EpochData data);

    /** Predictions on the validation set with the current parameters (inference mode). */
    default Predictions validate(ComputationGraph net, Supplier<DataSetIterator> validation, List<String> labels) {
        return Evaluator.predict(net, validation.get(), labels);
    }

    @Override
    default void close() {
    }
}
