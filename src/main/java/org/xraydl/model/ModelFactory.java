package org.xraydl.model;

import org.xraydl.kernels.FastLayers;
import org.xraydl.kernels.NativeHelpers;
import org.xraydl.model.io.PretrainedWeights;
import org.xraydl.model.io.WeightFiles;

import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.transferlearning.FineTuneConfiguration;
import org.deeplearning4j.nn.transferlearning.TransferLearning;
import org.deeplearning4j.util.NetworkUtils;
import org.deeplearning4j.zoo.model.VGG16;
import org.nd4j.linalg.schedule.ISchedule;
import org.xraydl.UserError;
import org.xraydl.config.RunConfig;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Returns a network ready to train: architecture, weights source, frozen trunk, new head.
 * Models: {@code vgg16} (DL4J zoo), {@code densenet121} and {@code densenet} (compact, from the
 * config's densenet* keys), both built by {@link DenseNetBuilder}.
 */
public final class ModelFactory {
    public static final List<String> MODELS = List.of("vgg16", "densenet121", "densenet");

    private ModelFactory() {
    }

    /** For lrSchedule constant (tests, benchmarks): no schedule needs the number of batches. */
    public static ComputationGraph create(RunConfig c, int numClasses, double[] classWeights) {
        return create(c, numClasses, classWeights, 0);
    }

    /** @param iterationsPerEpoch training batches per epoch, for the learning-rate schedule ({@link Optimization#iterationsPerEpoch}) */
    public static ComputationGraph create(RunConfig c, int numClasses, double[] classWeights, int iterationsPerEpoch) {
        refuseConfig(c);
        NativeHelpers.ensureConfigured(); // oneDNN layer helpers: decided when the layers are created
        String model = c.model().toLowerCase(Locale.ROOT);
        HeadSpec head = new HeadSpec(c.headHidden(), c.headDropout(), numClasses, classWeights);
        Optimization opt = Optimization.from(c, iterationsPerEpoch);
        ComputationGraph net = switch (model) {
            case "vgg16" -> vgg16(c, head, opt);
            case "densenet121" -> densenet(c, DenseNetSpec.densenet121(), head, opt);
            case "densenet" -> densenet(c, compactSpec(c), head, opt);
            default -> throw new UserError("unknown model '" + c.model() + "': use one of " + String.join(", ", MODELS));
        };
        opt.fixRegularization(net);
        FastLayers.engage(net);
        return net;
    }

    /**
     * The refusals {@link #create} makes from the configuration alone (model name, ImageNet weights with a size or a
     * model they do not fit), without building or reading anything: the CLI calls it before it starts anything.
     */
    public static void refuseConfig(RunConfig c) {
        String model = c.model().toLowerCase(Locale.ROOT);
        if (!MODELS.contains(model)) {
            throw new UserError("unknown model '" + c.model() + "': use one of " + String.join(", ", MODELS));
        }
        if ("imagenet".equalsIgnoreCase(c.weights())) {
            if (model.equals("vgg16")) {
                refuseVgg16ImagenetSize(c);
            } else if (model.equals("densenet")) {
                refuseImagenetFor(compactSpec(c));
            }
        }
    }

    private static DenseNetSpec compactSpec(RunConfig c) {
        return DenseNetSpec.compact(c.densenetGrowth(), c.densenetBlocks(), c.densenetInitFeatures());
    }

    private static void refuseVgg16ImagenetSize(RunConfig c) {
        if (c.imageSize() != 224) {
            throw new UserError("vgg16 with ImageNet weights needs imageSize 224 (its dense layers are sized for it), got " + c.imageSize());
        }
    }

    private static void refuseImagenetFor(DenseNetSpec spec) {
        if (!spec.equals(DenseNetSpec.densenet121())) {
            throw new UserError("ImageNet weights exist for densenet121 only (the compact densenet has its own size): "
                    + "use model densenet121, or --weights none");
        }
    }

    static ComputationGraph vgg16(RunConfig c, HeadSpec head, Optimization opt) {
        VGG16 zoo = VGG16.builder().numClasses(1000).seed((int) c.seed())
                .inputShape(new int[]{3, c.imageSize(), c.imageSize()}).build();
        ComputationGraph base;
        String weights = c.weights();
        if ("imagenet".equalsIgnoreCase(weights)) {
            refuseVgg16ImagenetSize(c);
            base = PretrainedWeights.imagenet(zoo);
        } else if ("none".equalsIgnoreCase(weights)) {
            base = zoo.init();
        } else {
            base = WeightFiles.load(Path.of(weights));
        }
        // The zoo's random-init graph names its layers "0".."20", the pretrained zip fc1/fc2/predictions:
        // find the output layer and the dense layer feeding it instead of hard-coding either.
        String output = base.getConfiguration().getNetworkOutputs().get(0);
        String lastDense = base.getConfiguration().getVertexInputs().get(output).get(0);
        GraphVertex lastDenseConf = base.getConfiguration().getVertices().get(lastDense);
        if (!(lastDenseConf instanceof LayerVertex lv) || !(lv.getLayerConf().getLayer() instanceof DenseLayer dense)) {
            throw new UserError("weights " + weights + " are not a VGG16 graph (no dense layer before the output " + output + ")");
        }
        TransferLearning.GraphBuilder tl = new TransferLearning.GraphBuilder(base)
                .fineTuneConfiguration(opt.applyTo(new FineTuneConfiguration.Builder()).seed(c.seed()).build())
                .removeVertexAndConnections(output);
        if (c.trunkFrozen()) {
            tl.setFeatureExtractor(lastDense); // conv trunk + fc1 + fc2, as in the paper
        }
        Heads.addTo(tl, lastDense, (int) dense.getNOut(), head);
        return tl.build();
    }

    static ComputationGraph densenet(RunConfig c, DenseNetSpec spec, HeadSpec head, Optimization opt) {
        ComputationGraph net = DenseNetBuilder.build(spec, c.imageSize(), 3, c.seed(), opt, head);
        String weights = c.weights();
        if ("imagenet".equalsIgnoreCase(weights)) {
            refuseImagenetFor(spec);
            WeightFiles.copyInto(PretrainedWeights.densenet121Imagenet(), net, Heads.PREFIX);
        } else if (!"none".equalsIgnoreCase(weights)) {
            WeightFiles.copyInto(Path.of(weights), net, Heads.PREFIX);
        }
        if (c.trunkFrozen()) {
            net = freezeUpTo(net, DenseNetBuilder.FEATURES, opt, c.seed());
        }
        return net;
    }

    /**
     * On resume: the learning-rate schedule of the config (whose epochs may have been raised) over the
     * saved network's trainable layers. Keeps the updater state; the network's iteration count, saved in
     * its zip, says where the schedule continues. No-op for lrSchedule constant.
     */
    public static void reschedule(ComputationGraph net, RunConfig c, int iterationsPerEpoch) {
        ISchedule schedule = Optimization.schedule(c, iterationsPerEpoch);
        if (schedule != null) {
            NetworkUtils.setLearningRate(net, schedule);
        }
    }

    /** Freezes {@code vertex} and everything before it (parameters and batch-norm statistics). */
    public static ComputationGraph freezeUpTo(ComputationGraph net, String vertex, RunConfig c) {
        return freezeUpTo(net, vertex, Optimization.from(c, 0), c.seed());
    }

    /** As above; {@code opt} is the updater and weight decay of the layers left trainable. */
    public static ComputationGraph freezeUpTo(ComputationGraph net, String vertex, Optimization opt, long seed) {
        ComputationGraph frozen = new TransferLearning.GraphBuilder(net)
                .fineTuneConfiguration(opt.applyTo(new FineTuneConfiguration.Builder()).seed(seed).build())
                .setFeatureExtractor(vertex)
                .build();
        opt.fixRegularization(frozen);
        return frozen;
    }

    /** The vertex the trunk ends at (the input of the first head layer). */
    public static String trunkOutput(ComputationGraph net) {
        return net.getConfiguration().getVertexInputs().get(Heads.PREFIX + "fc1") != null
                ? net.getConfiguration().getVertexInputs().get(Heads.PREFIX + "fc1").get(0)
                : net.getConfiguration().getVertexInputs().get(Heads.OUTPUT).get(0);
    }
}
