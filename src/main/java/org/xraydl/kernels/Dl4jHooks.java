package org.xraydl.kernels;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.deeplearning4j.nn.layers.normalization.BatchNormalizationHelper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.Field;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The non-public DL4J fields {@link FastLayers} writes (DL4J 1.0.0-M2.1 has no setter for them), each
 * looked up once, on first use, never in a static initialiser. A field that is missing, of another
 * type or not accessible (a DL4J other than 1.0.0-M2.1) switches off only the fast layers that need
 * it, with one warning naming the field and what is off; the network keeps DL4J's own layers, which
 * compute the same values, more slowly, and {@link HelperReport} shows them.
 */
final class Dl4jHooks {
    private static final Logger log = LoggerFactory.getLogger(Dl4jHooks.class);

    /** How a field is found: {@link Class#getDeclaredField} in production; tests pass one that renames a field. */
    @FunctionalInterface
    interface FieldLookup {
        Field find(Class<?> owner, String name) throws NoSuchFieldException;
    }

    private static final class Standard {
        static final Dl4jHooks INSTANCE = new Dl4jHooks(Class::getDeclaredField);
    }

    private final FieldLookup lookup;
    private final Map<String, Optional<Field>> resolved = new ConcurrentHashMap<>();
    private final List<String> warnings = new CopyOnWriteArrayList<>();

    Dl4jHooks(FieldLookup lookup) {
        this.lookup = lookup;
    }

    /** The hooks of the DL4J on the classpath, shared by the whole process (so each warning appears once). */
    static Dl4jHooks standard() {
        return Standard.INSTANCE;
    }

    /** {@code BatchNormalization.helper} (package-private): where a {@link FastBatchNormHelper} goes. */
    Optional<Field> batchNormHelper() {
        return hook("BatchNormalization.helper", () -> field(BatchNormalization.class, "helper", BatchNormalizationHelper.class),
                "FastBatchNormHelper is off, batch norm keeps DL4J's helper");
    }

    /**
     * {@code ComputationGraph.layers} (protected): the graph's layer array, which must hold the same
     * layer objects as the vertices when {@link FastReluLayer}, {@link FastPoolingLayer},
     * {@link FastConvolutionLayer} or {@link FastBatchNormalizationLayer} replace one.
     */
    Optional<Field> graphLayers() {
        return hook("ComputationGraph.layers", () -> field(ComputationGraph.class, "layers", Layer[].class),
                "FastReluLayer, FastPoolingLayer, FastConvolutionLayer and FastBatchNormalizationLayer are off, DL4J's ActivationLayer,"
                        + " SubsamplingLayer, ConvolutionLayer and BatchNormalization run");
    }

    /** {@code ComputationGraph.verticesMap} (protected): the graph's vertices by name, where a {@link FastMergeVertex} replaces one. */
    Optional<Field> graphVerticesMap() {
        return hook("ComputationGraph.verticesMap", () -> field(ComputationGraph.class, "verticesMap", Map.class),
                "FastMergeVertex is off, DL4J's MergeVertex runs");
    }

    /** The warnings this instance logged, one per unusable hook. */
    List<String> warnings() {
        return List.copyOf(warnings);
    }

    private Optional<Field> hook(String name, Callable<Field> find, String whatIsOff) {
        return resolved.computeIfAbsent(name, k -> {
            try {
                return Optional.of(find.call());
            } catch (Exception | LinkageError e) { // LinkageError: a DL4J class itself moved
                String warning = "DL4J hook " + name + " is unusable (" + e.getClass().getSimpleName() + ": " + e.getMessage()
                        + "; DL4J other than 1.0.0-M2.1?): " + whatIsOff + " (same results, slower)";
                warnings.add(warning);
                log.warn(warning);
                return Optional.empty();
            }
        });
    }

    private Field field(Class<?> owner, String name, Class<?> type) throws NoSuchFieldException {
        Field f = lookup.find(owner, name);
        if (f.getType() != type) {
            throw new IllegalStateException(owner.getSimpleName() + "." + name + " is a " + f.getType().getSimpleName()
                    + ", not a " + type.getSimpleName());
        }
        f.setAccessible(true);
        return f;
    }
}
