package org.xraydl.train;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.model.io.ModelBundle;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Supplier;

/**
 * An exponential moving average of a network's weights ({@code emaDecay}): all of {@code net.params()}, the
 * batch-norm running mean and variance included (DL4J keeps them in the same flat view), as timm's ModelEmaV2.
 * <p>
 * As a listener on the run's own network (the local engine: DL4J calls {@link #iterationDone} after each
 * batch's update, with the iteration count before that update), it updates the average in place, three ND4J
 * ops and no allocation: {@code avg = p + d * (avg - p)} with {@code d = min(emaDecay, (1 + n) / (10 + n))}
 * at iteration {@code n}, so early iterations are not outweighed by the initial weights. The iteration count is
 * the network's own (saved in last.zip), so a resumed run continues with the same decays.
 * <p>
 * {@link #withAverageIn} puts the average into the network for a while (validation, writing best.zip) and
 * the raw weights back, bit for bit.
 */
public final class WeightAverage extends BaseTrainingListener {
    private final double decay;
    /** The average: its own buffer, never a view of the network's parameters. */
    private final INDArray average;

    private WeightAverage(double decay, INDArray average) {
        if (!(decay > 0 && decay < 1)) {
            throw new IllegalArgumentException("emaDecay must be in (0, 1) for an average, got " + decay);
        }
        this.decay = decay;
        this.average = average;
    }

    /** An average that starts at {@code params} (copied), for a new run. */
    public static WeightAverage startingAt(double decay, INDArray params) {
        return new WeightAverage(decay, copy(params));
    }

    /**
     * The average saved in last.zip, for a resumed run, which must have {@code net}'s parameter count. The array
     * read from the zip is used as it is when it has the parameters' shape and data type (no second copy of the
     * weights for the rest of the run), else a copy that has them.
     */
    public static WeightAverage restored(double decay, INDArray saved, ComputationGraph net) {
        INDArray params = net.params();
        if (saved.length() != params.length()) {
            throw new IllegalStateException("a weight average of " + saved.length() + " numbers for a network of " + params.length());
        }
        if (saved.dataType() == params.dataType() && Arrays.equals(saved.shape(), params.shape()) && !saved.isView()
                && saved.data().underlyingDataBuffer() != params.data().underlyingDataBuffer()) {
            return new WeightAverage(decay, saved);
        }
        return new WeightAverage(decay, copy(saved.castTo(params.dataType()).reshape(params.shape())));
    }

    private static INDArray copy(INDArray x) {
        try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
            return x.dup();
        }
    }

    /** The decay at iteration {@code n} (0 for the first batch): {@code min(decay, (1 + n) / (10 + n))}. */
    public static double decayAt(double decay, long n) {
        return Math.min(decay, (1.0 + n) / (10.0 + n));
    }

    /** {@code avg = p + d * (avg - p)} in place, {@code d} the decay at iteration {@code n}. */
    void update(INDArray params, long n) {
        average.subi(params).muli(decayAt(decay, n)).addi(params);
    }

    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        update(model.params(), iteration);
    }

    public double decay() {
        return decay;
    }

    /** The average itself (not a copy): read it, do not change it. */
    public INDArray average() {
        return average;
    }

    /** Runs {@code body} with the average as {@code net}'s weights, then puts the raw weights back bit for bit. */
    public <T> T withAverageIn(ComputationGraph net, Supplier<T> body) {
        return withWeights(net, average, body);
    }

    /**
     * Saves {@code bundle} (inference only, as best.zip) with {@code weights} as its network's parameters, or with the
     * network's own when {@code weights} is null (a run without emaDecay); the network keeps its own afterwards.
     */
    public static void saveWith(ModelBundle bundle, INDArray weights, Path target) {
        if (weights == null) {
            bundle.save(target, false);
            return;
        }
        withWeights(bundle.network(), weights, () -> {
            bundle.save(target, false);
            return null;
        });
    }

    /**
     * Runs {@code body} with {@code weights} (copied in) as {@code net}'s parameters, then copies the network's own
     * parameters back, however {@code body} ends. {@code weights} is only read.
     */
    public static <T> T withWeights(ComputationGraph net, INDArray weights, Supplier<T> body) {
        INDArray raw = copy(net.params()); // a copy: setParams assigns into the network's own flat view
        try {
            net.setParams(weights);
            return body.get();
        } finally {
            net.setParams(raw);
            if (raw.closeable()) {
                raw.close(); // the copy's memory now, not at the next garbage collection
            }
        }
    }
}
