package org.xraydl.bench;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.model.ModelFactory;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The networks the benchmark times: exactly what {@link ModelFactory} builds for training (random
 * weights), with the classifier head of the PyTorch peer so both sides do the same work:
 * DenseNet-121 1024-512-256-2, VGG16 4096-512-2; the compact DenseNet keeps the project's default head.
 */
public final class BenchNets {
    public static final int NUM_CLASSES = 2;

    private BenchNets() {
    }

    public static RunConfig config(Workload w, long seed) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("name", "benchmark");
        o.put("model", w.model());
        o.put("imageSize", w.size());
        o.put("batchSize", w.batch());
        o.put("weights", "none");
        o.put("freezeTrunk", w.step().trunkFrozen());
        o.put("classWeights", "none");
        o.put("seed", seed);
        switch (w.model()) {
            case "densenet121" -> {
                o.put("headHidden", List.of(512, 256));
                o.put("headDropout", List.of(0.2, 0.1));
            }
            case "vgg16" -> {
                o.put("headHidden", List.of(512));
                o.put("headDropout", List.of(0.5));
            }
            default -> {
                // compact DenseNet: the project's default head and shape (defaults.yaml)
            }
        }
        return ConfigLoader.load(null, o);
    }

    public static ComputationGraph build(Workload w, long seed) {
        return ModelFactory.create(config(w, seed), NUM_CLASSES, null);
    }
}
