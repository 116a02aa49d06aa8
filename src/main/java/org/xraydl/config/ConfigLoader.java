package org.xraydl.config;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import org.xraydl.UserError;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;

/** Builds a {@link RunConfig}: bundled defaults, then a YAML file, then CLI overrides. */
public final class ConfigLoader {

    public static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER))
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    public static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT);

    /** The most decodeThreads accepted: more threads than that only cost memory (a malloc arena each). */
    static final int MAX_DECODE_THREADS = 64;

    private ConfigLoader() {
    }

    /** @param yamlFile may be null: defaults only. Overrides with null values are ignored. */
    public static RunConfig load(Path yamlFile, Map<String, Object> overrides) {
        ObjectNode merged = defaults();
        if (yamlFile != null) {
            if (!Files.isRegularFile(yamlFile)) {
                throw new UserError("config file not found: " + yamlFile + " (pass --config config/default.yaml or another YAML file)");
            }
            try {
                JsonNode file = YAML.readTree(yamlFile.toFile());
                if (file != null && !file.isNull()) {
                    if (!file.isObject()) {
                        throw new UserError("config file " + yamlFile + " is not a YAML mapping of key: value");
                    }
                    merge(merged, (ObjectNode) file, yamlFile.toString());
                }
            } catch (IOException e) {
                throw new UserError("cannot parse config file " + yamlFile + ": " + firstLine(e.getMessage()));
            }
        }
        if (overrides != null) {
            ObjectNode o = YAML.valueToTree(overrides.entrySet().stream()
                    .filter(e -> e.getValue() != null)
                    .collect(java.util.stream.Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue)));
            merge(merged, o, "command line");
        }
        try {
            RunConfig c = YAML.treeToValue(merged, RunConfig.class);
            validate(c);
            return c;
        } catch (IOException e) {
            throw new UserError("invalid configuration: " + firstLine(e.getMessage()));
        }
    }

    public static RunConfig fromJson(String json) {
        try {
            return JSON.readValue(json, RunConfig.class);
        } catch (IOException e) {
            throw new UserError("stored configuration cannot be read: " + firstLine(e.getMessage()));
        }
    }

    public static String toYaml(RunConfig c) {
        try {
            return YAML.writeValueAsString(c);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ObjectNode defaults() {
        try (InputStream in = ConfigLoader.class.getResourceAsStream("/defaults.yaml")) {
            return (ObjectNode) YAML.readTree(in);
        } catch (IOException e) {
            throw new IllegalStateException("bundled defaults.yaml is missing", e);
        }
    }

    private static void merge(ObjectNode into, ObjectNode from, String source) {
        for (Iterator<Map.Entry<String, JsonNode>> it = from.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!into.has(e.getKey())) {
                throw new UserError("unknown config key '" + e.getKey() + "' in " + source
                        + " (known keys: " + String.join(", ", (Iterable<String>) into::fieldNames) + ")");
            }
            into.set(e.getKey(), e.getValue());
        }
    }

    private static void validate(RunConfig c) {
        require(c.imageSize() >= 32, "imageSize must be at least 32, got " + c.imageSize());
        require(c.epochs() >= 1, "epochs must be at least 1, got " + c.epochs());
        require(c.batchSize() >= 1, "batchSize must be at least 1, got " + c.batchSize());
        require(c.workers() >= 1, "workers must be at least 1, got " + c.workers());
        require(c.learningRate() > 0, "learningRate must be positive, got " + c.learningRate());
        require(c.valFraction() > 0 && c.valFraction() < 0.9, "valFraction must be in (0, 0.9), got " + c.valFraction());
        require(c.loaderThreads() == 0 || c.loaderThreads() == 1,
                "loaderThreads must be 0 (training thread) or 1 (one background loader thread), got " + c.loaderThreads());
        require(c.decodeThreads() >= 0 && c.decodeThreads() <= MAX_DECODE_THREADS, "decodeThreads must be 0 (one per available processor) or 1 to "
                + MAX_DECODE_THREADS + " (threads decoding each batch, 1 = the loading thread alone), got " + c.decodeThreads());
        require(c.evalBatchSize() >= 0, "evalBatchSize must be >= 0 (0 = twice batchSize), got " + c.evalBatchSize());
        require(c.timeBudgetMinutes() >= 0, "timeBudgetMinutes must be >= 0, got " + c.timeBudgetMinutes());
        require(c.resizeRatio() >= 1.0, "resizeRatio must be >= 1, got " + c.resizeRatio());
        require(c.cropScaleMin() > 0 && c.cropScaleMin() <= 1, "cropScaleMin must be in (0, 1], got " + c.cropScaleMin());
        // NaN fails both comparisons; infinity the upper bound.
        require(c.brightness() >= 0 && c.brightness() < 1, "brightness must be in [0, 1), got " + c.brightness() + " (0 = off; e.g. 0.2)");
        require(c.contrast() >= 0 && c.contrast() < 1, "contrast must be in [0, 1), got " + c.contrast() + " (0 = off; e.g. 0.2)");
        require(c.headHidden().size() == c.headDropout().size(),
                "headHidden and headDropout must have the same length");
        require(java.util.Set.of("none", "balanced").contains(c.classWeights()),
                "classWeights must be none or balanced, got " + c.classWeights());
        require(java.util.Set.of("imagenet", "vgg").contains(c.normalization()),
                "normalization must be imagenet or vgg, got " + c.normalization());
        require(org.xraydl.data.Resampling.NAMES.contains(c.resampling()),
                "resampling must be opencv (OpenCV INTER_LINEAR crop, INTER_AREA evaluation) or antialias (PIL's antialiased bilinear), got "
                        + c.resampling());
        require(java.util.Set.of("local", "spark").contains(c.engine()),
                "engine must be local or spark, got " + c.engine());
        require(java.util.Set.of("sensitivity", "youden").contains(c.thresholdMethod()),
                "thresholdMethod must be sensitivity or youden, got " + c.thresholdMethod());
        require(c.targetSensitivity() > 0 && c.targetSensitivity() <= 1,
                "targetSensitivity must be in (0, 1], got " + c.targetSensitivity());
        require(java.util.Set.of("shared", "averaging").contains(c.trainingMaster()),
                "trainingMaster must be shared (gradient sharing) or averaging (parameter averaging), got " + c.trainingMaster());
        validateOptimization(c);
    }

    /** The optimizer / lrSchedule keys (model/Optimization builds them) and emaDecay (train/WeightAverage). */
    private static void validateOptimization(RunConfig c) {
        require(java.util.Set.of("adam", "adamw", "sgd").contains(c.optimizer()),
                "optimizer must be adam, adamw or sgd, got " + c.optimizer());
        require(c.weightDecay() >= 0, "weightDecay must be >= 0, got " + c.weightDecay());
        require(c.momentum() >= 0 && c.momentum() < 1, "momentum must be in [0, 1), got " + c.momentum());
        require(c.adamBeta1() >= 0 && c.adamBeta1() < 1, "adamBeta1 must be in [0, 1), got " + c.adamBeta1());
        require(c.adamBeta2() >= 0 && c.adamBeta2() < 1, "adamBeta2 must be in [0, 1), got " + c.adamBeta2());
        require(c.emaDecay() >= 0 && c.emaDecay() < 1, "emaDecay must be in [0, 1) (0 = off; e.g. 0.999 averages the weights "
                + "over about the last 1000 batches), got " + c.emaDecay());
        require(java.util.Set.of("constant", "onecycle", "cosine", "step").contains(c.lrSchedule()),
                "lrSchedule must be constant, onecycle, cosine or step, got " + c.lrSchedule());
        switch (c.lrSchedule()) {
            case "onecycle" -> {
                require(c.lrMax() > c.learningRate(), "lrSchedule onecycle needs lrMax > learningRate, got lrMax "
                        + c.lrMax() + " and learningRate " + c.learningRate());
                require(c.lrMin() > 0 && c.lrMin() <= c.learningRate(), "lrSchedule onecycle needs lrMin in (0, learningRate], got " + c.lrMin());
                require(c.annealFraction() > 0 && c.annealFraction() < 0.5, "annealFraction must be in (0, 0.5), got " + c.annealFraction());
            }
            case "cosine" -> {
                require(c.lrMin() >= 0 && c.lrMin() < c.learningRate(), "lrSchedule cosine needs lrMin in [0, learningRate), got " + c.lrMin());
                require(c.warmupEpochs() >= 0 && c.warmupEpochs() < c.epochs(), "warmupEpochs must be >= 0 and shorter than the run ("
                        + c.epochs() + " epochs), got " + c.warmupEpochs());
            }
            case "step" -> {
                require(c.stepEvery() >= 1, "stepEvery must be at least 1 epoch, got " + c.stepEvery());
                require(c.stepGamma() > 0 && c.stepGamma() <= 1, "stepGamma must be in (0, 1], got " + c.stepGamma());
            }
            default -> {
            }
        }
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new UserError("invalid configuration: " + message);
        }
    }

    static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
