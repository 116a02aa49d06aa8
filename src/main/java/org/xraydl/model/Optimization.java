package org.xraydl.model;

import org.xraydl.UserError;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.transferlearning.FineTuneConfiguration;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.learning.regularization.L2Regularization;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.learning.regularization.WeightDecay;
import org.nd4j.linalg.schedule.CycleSchedule;
import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.linalg.schedule.ScheduleType;
import org.nd4j.linalg.schedule.StepSchedule;
import org.xraydl.config.RunConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleConsumer;

/**
 * The updater (optimiser with its learning-rate schedule) and weight decay of every trainable
 * layer, from the config's optimizer / weightDecay / lrSchedule keys. Schedules count iterations
 * (DL4J keeps the count in the model zip, so a resumed run continues the schedule), hence they
 * need the number of batches per epoch.
 *
 * @param weightDecay    decay coefficient applied to weights (not biases); 0 = none
 * @param decoupledDecay true: DL4J's WeightDecay (AdamW: lr * coeff * w added to the update after
 *                       the optimiser), false: L2 added to the gradient (PyTorch's Adam/SGD weight_decay)
 */
public record Optimization(IUpdater updater, double weightDecay, boolean decoupledDecay) {
    /** Plain Adam at a constant rate, no weight decay (the project's original recipe). */
    public static Optimization adam(double learningRate) {
        return new Optimization(new Adam(learningRate), 0, false);
    }

    /** @param iterationsPerEpoch batches per epoch; 0 if unknown (then only lrSchedule constant works) */
    public static Optimization from(RunConfig c, int iterationsPerEpoch) {
        ISchedule schedule = schedule(c, iterationsPerEpoch);
        IUpdater updater = switch (c.optimizer()) {
            case "adam", "adamw" -> {
                Adam.Builder b = Adam.builder().beta1(c.adamBeta1()).beta2(c.adamBeta2()).epsilon(Adam.DEFAULT_ADAM_EPSILON);
                yield schedule == null ? b.learningRate(c.learningRate()).build() : b.learningRateSchedule(schedule).build();
            }
            case "sgd" -> c.momentum() > 0
                    // DL4J's only momentum updater is Nesterov's
                    ? (schedule == null ? new Nesterovs(c.learningRate(), c.momentum()) : new Nesterovs(schedule, c.momentum()))
                    : (schedule == null ? new Sgd(c.learningRate()) : new Sgd(schedule));
            default -> throw new IllegalArgumentException("unknown optimizer " + c.optimizer());
        };
        return new Optimization(updater, c.weightDecay(), "adamw".equals(c.optimizer()));
    }

    /** The learning-rate schedule by iteration, or null for lrSchedule constant. */
    public static ISchedule schedule(RunConfig c, int iterationsPerEpoch) {
        if ("constant".equals(c.lrSchedule())) {
            return null;
        }
        if (iterationsPerEpoch <= 0) {
            throw new IllegalArgumentException("lrSchedule " + c.lrSchedule() + " needs the number of batches per epoch");
        }
        int total = c.epochs() * iterationsPerEpoch;
        return switch (c.lrSchedule()) {
            case "onecycle" -> oneCycle(c.learningRate(), c.lrMax(), c.lrMin(), total, c.annealFraction());
            case "cosine" -> new WarmupCosineSchedule(c.learningRate(), c.lrMin(),
                    (int) Math.round(c.warmupEpochs() * iterationsPerEpoch), total);
            case "step" -> new StepSchedule(ScheduleType.ITERATION, c.learningRate(), c.stepGamma(), c.stepEvery() * iterationsPerEpoch);
            default -> throw new IllegalArgumentException("unknown lrSchedule " + c.lrSchedule());
        };
    }

    /**
     * ND4J's one-cycle over the whole run: linear from {@code start} up to {@code max} and back in
     * equal halves, then the last {@code annealFraction} of the iterations decays geometrically to
     * {@code end} at the final iteration.
     */
    static CycleSchedule oneCycle(double start, double max, double end, int totalIterations, double annealFraction) {
        int anneal = Math.max(2, (int) Math.round(annealFraction * totalIterations));
        if ((totalIterations - anneal) % 2 != 0) {
            anneal++; // CycleSchedule's halves are (cycle - anneal) / 2: an odd rest leaves one iteration above start
        }
        if (totalIterations - anneal < 2) {
            throw new UserError("lrSchedule onecycle needs more training batches than " + totalIterations
                    + " in all (epochs x batches per epoch): raise --epochs or --max-batches, or use --set lrSchedule=constant");
        }
        // CycleSchedule anneals as start * decay^k, k = 0 .. anneal-1
        double decay = Math.pow(end / start, 1.0 / (anneal - 1));
        return new CycleSchedule(ScheduleType.ITERATION, start, max, totalIterations, anneal, decay);
    }

    /** Batches per epoch of {@code trainImages} images (the last one partial), capped by maxBatchesPerEpoch. */
    public static int iterationsPerEpoch(RunConfig c, int trainImages) {
        int batches = (trainImages + c.batchSize() - 1) / c.batchSize();
        return c.maxBatchesPerEpoch() > 0 ? Math.min(batches, c.maxBatchesPerEpoch()) : batches;
    }

    /** The regularisation every trainable layer's weights must carry: none, one WeightDecay or one L2. */
    public List<Regularization> weightRegularization() {
        if (weightDecay == 0) {
            return List.of();
        }
        return List.of(decoupledDecay ? new WeightDecay(weightDecay, true) : new L2Regularization(weightDecay));
    }

    /**
     * DL4J 1.0.0-M2.1's graph builder puts a global WeightDecay on each layer twice (twice the decay;
     * L2 once): after building, set every trainable layer's list, in the saved configuration and in
     * the live layers, to exactly {@link #weightRegularization()}. Frozen layers are not BaseLayers.
     */
    public void fixRegularization(ComputationGraph net) {
        for (GraphVertex v : net.getConfiguration().getVertices().values()) {
            if (v instanceof LayerVertex lv && lv.getLayerConf().getLayer() instanceof BaseLayer b) {
                b.setRegularization(new ArrayList<>(weightRegularization()));
            }
        }
        for (Layer l : net.getLayers()) {
            if (l.conf().getLayer() instanceof BaseLayer b) {
                b.setRegularization(new ArrayList<>(weightRegularization()));
            }
        }
    }

    public NeuralNetConfiguration.Builder applyTo(NeuralNetConfiguration.Builder b) {
        b.updater(updater);
        applyDecay(c -> b.weightDecay(c, true), b::l2);
        return b;
    }

    /** For layers added or kept trainable by TransferLearning; frozen layers get neither. */
    public FineTuneConfiguration.Builder applyTo(FineTuneConfiguration.Builder b) {
        b.updater(updater);
        applyDecay(c -> b.weightDecay(c, true), b::l2);
        return b;
    }

    /** The two builders share no type: each passes its own setters for decoupled decay and L2. */
    private void applyDecay(DoubleConsumer decoupled, DoubleConsumer l2) {
        if (weightDecay > 0) {
            (decoupledDecay ? decoupled : l2).accept(weightDecay);
        }
    }
}
