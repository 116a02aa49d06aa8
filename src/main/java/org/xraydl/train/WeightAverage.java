package org.xraydl.train;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.model.io.TrainableParameters;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Supplier;

/**
 * An exponential moving average of a network's trainable weights ({@code emaDecay}), as timm's ModelEmaV2: the
 * parameters of its layers that are not frozen ({@link TrainableParameters}), their batch-norm running mean and variance
 * included (DL4J keeps them in the same flat view). Frozen layers (a frozen trunk) are left out: their weights never
 * change, so an average of them would only be a copy (~550 MB for VGG16), and the network's own are used with the average.
 * <p>
 * As a listener on the run's own network (the local engine: DL4J calls {@link #iterationDone} after each
 * batch's update, with the iteration count before that update), it updates the average in place, three ND4J
 * ops per range of trainable parameters (one range when the trainable layers are adjacent, as a frozen trunk and
 * its head are) and no allocation: {@code avg = p + d * (avg - p)} with {@code d = min(emaDecay, (1 + n) / (10 + n))}
 * at iteration {@code n}, so early iterations are not outweighed by the initial weights. The iteration count is
 * the network's own (saved in last.zip), so a resumed run continues with the same decays.
 * <p>
 * {@link #withAverageIn} puts the average into the network's trainable parameters for a while (validation, writing
 * best.zip) and the raw weights back, bit for bit; the frozen ones are not touched.
 */
public final class WeightAverage extends BaseTrainingListener {
    private final double decay;
    /** Which numbers of the network's parameters are averaged. */
    private final TrainableParameters trainable;
    /** The average of the trainable part: its own buffer, never a view of the network's parameters. */
    private final INDArray average;
    /** {@link #average}'s slices for each range, and the parameter array {@link #paramViews} were made for. */
    private final INDArray[] averageViews;
    private INDArray viewsOf;
    private INDArray[] paramViews;

    private WeightAverage(double decay, TrainableParameters trainable, INDArray average) {
        if (!(decay > 0 && decay < 1)) {
            throw new IllegalArgumentException("emaDecay must be in (0, 1) for an average, got " + decay);
        }
        this.decay = decay;
        this.trainable = trainable;
        this.average = average;
        this.averageViews = trainable.partViews(average);
    }

    /** An average that starts at {@code net}'s current trainable parameters (copied), for a new run. */
    public static WeightAverage startingAt(double decay, ComputationGraph net) {
        TrainableParameters t = TrainableParameters.of(net);
        return new WeightAverage(decay, t, t.gather(net.params()));
    }

    /** An average of every number of {@code params}, starting at them (copied): the arithmetic without a network. */
    static WeightAverage startingAt(double decay, INDArray params) {
        return new WeightAverage(decay, TrainableParameters.all(params.length()), copy(params));
    }

    /**
     * The average saved in last.zip, for a resumed run: the trainable part of {@code net}'s parameters, as
     * {@code ModelBundle.load} returns it (an older zip's full-length average already cut down to it). The array read
     * from the zip is used as it is when it has the shape {@code [1, count]} and the parameters' data type (no second
     * copy of the weights for the rest of the run), else a copy that has them.
     */
    public static WeightAverage restored(double decay, INDArray saved, ComputationGraph net) {
        TrainableParameters t = TrainableParameters.of(net);
        INDArray params = net.params();
        if (saved.length() != t.count()) {
            throw new IllegalStateException("a weight average of " + saved.length() + " numbers for a network with " + t);
        }
        long[] shape = {1, t.count()};
        if (saved.dataType() == params.dataType() && Arrays.equals(saved.shape(), shape) && !saved.isView()
                && saved.data().underlyingDataBuffer() != params.data().underlyingDataBuffer()) {
            return new WeightAverage(decay, t, saved);
        }
        return new WeightAverage(decay, t, copy(saved.castTo(params.dataType()).reshape(shape)));
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

    /** {@code avg = p + d * (avg - p)} in place over the trainable part of {@code params}, {@code d} the decay at iteration {@code n}. */
    void update(INDArray params, long n) {
        if (params != viewsOf) { // the network's flat parameter array: the same object for the whole run
            paramViews = trainable.views(params);
            viewsOf = params;
        }
        double d = decayAt(decay, n);
        for (int i = 0; i < paramViews.length; i++) {
            averageViews[i].subi(paramViews[i]).muli(d).addi(paramViews[i]);
        }
    }

    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        update(model.params(), iteration);
    }

    public double decay() {
        return decay;
    }

    /** The average itself (not a copy), of the trainable parameters only ({@link #trainable()}): read it, do not change it. */
    public INDArray average() {
        return average;
    }

    /** Which of the network's parameters are averaged. */
    public TrainableParameters trainable() {
        return trainable;
    }

    /** Runs {@code body} with the average as {@code net}'s trainable weights, then puts the raw weights back bit for bit. */
    public <T> T withAverageIn(ComputationGraph net, Supplier<T> body) {
        return withWeights(net, average, body);
    }

    /**
     * Saves {@code bundle} (inference only, as best.zip) with {@code weights} (a weight average: the trainable part of its
     * network's parameters) in place of the network's trainable parameters, its frozen ones as they are; or with the
     * network's own when {@code weights} is null (a run without emaDecay). The network keeps its own afterwards.
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
     * Runs {@code body} with {@code weights} (the trainable part, copied in) as {@code net}'s trainable parameters, then
     * copies the network's own back, however {@code body} ends. Only the trainable part is copied aside (frozen
     * parameters are not written); {@code weights} is only read.
     */
    public static <T> T withWeights(ComputationGraph net, INDArray weights, Supplier<T> body) {
        TrainableParameters t = TrainableParameters.of(net);
        if (weights.length() != t.count()) {
            throw new IllegalStateException("weights of " + weights.length() + " numbers for a network with " + t);
        }
        INDArray raw = t.gather(net.params()); // a copy: the network's own trainable values
        try {
            t.scatter(weights, net.params());
            return body.get();
        } finally {
            t.scatter(raw, net.params());
            if (raw.closeable()) {
                raw.close(); // the copy's memory now, not at the next garbage collection
            }
        }
    }
}
