package org.xraydl.model.io;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.xraydl.UserError;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.zip.ZipFile;

/**
 * Local weight files: a DL4J model zip, or a Keras .h5 ({@link KerasWeights}). Weights are copied
 * by layer name into the network built by this project, so the architecture stays ours and a file
 * that does not fit is refused with the first mismatching layer named.
 */
public final class WeightFiles {
    private static final String VAR = BatchNormalizationParamInitializer.GLOBAL_VAR;
    private static final String LOG_STD = BatchNormalizationParamInitializer.GLOBAL_LOG_STD;

    private WeightFiles() {
    }

    /** Loads a weight file as a ComputationGraph (DL4J zip or Keras .h5). */
    public static ComputationGraph load(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new UserError("weights file not found: " + file + " (pass --weights imagenet, none, or an existing .zip/.h5 file)");
        }
        if (isKeras(file)) {
            return KerasWeights.importGraph(file);
        }
        // Entries checked first (ModelZip.open): nothing in the file is deserialised as Java objects.
        try (ZipFile zip = ModelZip.open(file, "--weights")) {
            try {
                return ModelZip.restoreGraph(zip, false);
            } catch (UserError e) {
                throw e;
            } catch (Exception e) {
                String msg = e.getMessage() == null ? "" : ": " + e.getMessage().lines().findFirst().orElse("");
                throw new UserError("--weights " + file + " cannot be loaded as a DL4J ComputationGraph (" + e.getClass().getSimpleName()
                        + msg + "): pass a model .zip saved by DL4J or by this pipeline");
            }
        } catch (IOException e) {
            throw new UserError("--weights " + file + " cannot be closed (" + e.getMessage() + ")");
        }
    }

    /**
     * Loads the weights in {@code file} into {@code target}, matched by layer name, skipping the
     * layers whose name starts with {@code skipPrefix} (the new head). A Keras .h5 is read
     * directly by layer name, so weights-only files (no model_config) work too; a DL4J zip is
     * restored and its layers copied.
     *
     * @return the number of layers copied
     */
    public static int copyInto(Path file, ComputationGraph target, String skipPrefix) {
        if (!Files.isRegularFile(file)) {
            throw new UserError("weights file not found: " + file + " (pass --weights imagenet, none, or an existing .zip/.h5 file)");
        }
        if (isKeras(file)) {
            return copyByName(KerasWeights.readParams(file, layersWithParams(target, skipPrefix)), target, skipPrefix,
                    file.toString());
        }
        return copyByName(load(file), target, skipPrefix, file.toString());
    }

    /** Copies by layer name from another graph; see {@link #copyByName(Map, ComputationGraph, String, String)}. */
    public static int copyByName(ComputationGraph source, ComputationGraph target, String skipPrefix, String sourceName) {
        Map<String, Map<String, INDArray>> params = new LinkedHashMap<>();
        for (GraphVertex v : source.getVertices()) {
            if (v.hasLayer()) {
                params.put(v.getVertexName(), v.getLayer().paramTable());
            }
        }
        return copyByName(params, target, skipPrefix, sourceName);
    }

    /**
     * Copies parameters layer by layer from {@code source} (layer name to DL4J parameter name to
     * array) into every layer of {@code target} whose name does not start with {@code skipPrefix}.
     * Every such layer with parameters must exist in the source with the same parameters and
     * shapes (a vector may be stored as [n] or [1, n]); batch-norm variance is converted between
     * {@code var} and DL4J's {@code log10stdev} (log10 of the standard deviation) as the target needs.
     *
     * @return the number of layers copied
     */
    public static int copyByName(Map<String, Map<String, INDArray>> source, ComputationGraph target, String skipPrefix,
                                 String sourceName) {
        int copied = 0;
        List<String> missing = new ArrayList<>();
        for (String name : layersWithParams(target, skipPrefix)) {
            Map<String, INDArray> from = source.get(name);
            if (from == null) {
                missing.add(name);
                continue;
            }
            Map<String, INDArray> to = target.getVertex(name).getLayer().paramTable();
            Map<String, INDArray> converted = convertVariance(from, to.keySet());
            if (!converted.keySet().equals(to.keySet())) {
                throw new UserError("weights " + sourceName + ": layer " + name + " has parameters "
                        + from.keySet() + ", the model expects " + to.keySet() + " (is it the right architecture?)");
            }
            for (Map.Entry<String, INDArray> e : to.entrySet()) {
                INDArray s = converted.get(e.getKey());
                INDArray t = e.getValue();
                if (!Arrays.equals(s.shape(), t.shape())) {
                    if (s.length() == t.length() && isVector(s) && isVector(t)) {
                        s = s.reshape(t.shape());
                    } else {
                        throw new UserError("weights " + sourceName + ": layer " + name + " parameter " + e.getKey()
                                + " has shape " + Arrays.toString(s.shape()) + ", the model expects " + Arrays.toString(t.shape())
                                + " (is it the right architecture and size?)");
                    }
                }
                t.assign(s);
            }
            copied++;
        }
        if (!missing.isEmpty()) {
            throw new UserError("weights " + sourceName + " lack " + missing.size() + " layer(s) of the model, first: "
                    + missing.get(0) + " (is it the right architecture?)");
        }
        return copied;
    }

    /** Names of the target's layers that have parameters and are not skipped, in graph order. */
    static List<String> layersWithParams(ComputationGraph target, String skipPrefix) {
        List<String> names = new ArrayList<>();
        for (GraphVertex v : target.getVertices()) {
            if (v.hasLayer() && !v.getVertexName().startsWith(skipPrefix) && v.getLayer().numParams() > 0) {
                names.add(v.getVertexName());
            }
        }
        return names;
    }

    /** Batch norm: DL4J stores the running variance as var, or (its builder's default) as log10stdev = log10(sqrt(var)). */
    private static Map<String, INDArray> convertVariance(Map<String, INDArray> from, Set<String> wanted) {
        if (from.containsKey(VAR) && wanted.contains(LOG_STD) && !wanted.contains(VAR)) {
            Map<String, INDArray> out = new LinkedHashMap<>(from);
            // var = 0 would give -infinity; the layer adds eps to var anyway, so a tiny floor changes nothing
            INDArray var = Transforms.max(from.get(VAR).castTo(DataType.DOUBLE), 1e-30, true);
            out.put(LOG_STD, Transforms.log(var, 10.0, false).muli(0.5).castTo(from.get(VAR).dataType()));
            out.remove(VAR);
            return out;
        }
        if (from.containsKey(LOG_STD) && wanted.contains(VAR) && !wanted.contains(LOG_STD)) {
            Map<String, INDArray> out = new LinkedHashMap<>(from);
            INDArray log = from.get(LOG_STD).castTo(DataType.DOUBLE);
            out.put(VAR, Transforms.pow(Nd4j.valueArrayOf(log.shape(), 10.0, DataType.DOUBLE), log.mul(2.0), false)
                    .castTo(from.get(LOG_STD).dataType()));
            out.remove(LOG_STD);
            return out;
        }
        return from;
    }

    private static boolean isVector(INDArray a) {
        return a.rank() == 1 || (a.rank() == 2 && (a.size(0) == 1 || a.size(1) == 1));
    }

    private static boolean isKeras(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        return name.endsWith(".h5") || name.endsWith(".hdf5") || name.endsWith(".keras");
    }
}
