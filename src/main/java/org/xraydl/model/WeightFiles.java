package org.xraydl.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.xraydl.UserError;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.zip.ZipFile;

/**
 * Local weight files: a DL4J model zip, or a Keras .h5 through DL4J's model import. Weights are
 * copied by layer name into the network built by this project, so the architecture stays ours and
 * a file that does not fit is refused with the first mismatching layer named.
 */
public final class WeightFiles {

    private WeightFiles() {
    }

    /** Loads a weight file as a ComputationGraph (DL4J zip or Keras .h5). */
    public static ComputationGraph load(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new UserError("weights file not found: " + file + " (pass --weights imagenet, none, or an existing .zip/.h5 file)");
        }
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".h5") || name.endsWith(".hdf5") || name.endsWith(".keras")) {
            return KerasWeights.importGraph(file);
        }
        try (ZipFile zip = new ZipFile(file.toFile())) {
            if (zip.getEntry("configuration.json") == null || zip.getEntry("coefficients.bin") == null) {
                throw new UserError("--weights " + file + " is a zip but not a DL4J model (no configuration.json/coefficients.bin)");
            }
        } catch (IOException e) {
            throw new UserError("--weights " + file + " is not a model: expected a DL4J model .zip or a Keras .h5 file");
        }
        try {
            return ModelSerializer.restoreComputationGraph(file.toFile(), false);
        } catch (Exception e) {
            throw new UserError("--weights " + file + " cannot be loaded as a DL4J ComputationGraph: " + e.getMessage());
        }
    }

    /**
     * Copies parameters layer by layer from {@code source} into every layer of {@code target} whose
     * name does not start with {@code skipPrefix}. Every such layer with parameters must exist in
     * the source with identically shaped parameters.
     *
     * @return the number of layers copied
     */
    public static int copyByName(ComputationGraph source, ComputationGraph target, String skipPrefix, String sourceName) {
        int copied = 0;
        List<String> missing = new ArrayList<>();
        for (GraphVertex v : target.getVertices()) {
            if (!v.hasLayer() || v.getVertexName().startsWith(skipPrefix) || v.getLayer().numParams() == 0) {
                continue;
            }
            Layer src = sourceLayer(source, v.getVertexName());
            if (src == null) {
                missing.add(v.getVertexName());
                continue;
            }
            Map<String, INDArray> from = src.paramTable();
            Map<String, INDArray> to = v.getLayer().paramTable();
            if (!from.keySet().equals(to.keySet())) {
                throw new UserError("weights " + sourceName + ": layer " + v.getVertexName() + " has parameters "
                        + from.keySet() + ", the model expects " + to.keySet());
            }
            for (Map.Entry<String, INDArray> e : to.entrySet()) {
                INDArray s = from.get(e.getKey());
                if (!Arrays.equals(s.shape(), e.getValue().shape())) {
                    throw new UserError("weights " + sourceName + ": layer " + v.getVertexName() + " parameter " + e.getKey()
                            + " has shape " + Arrays.toString(s.shape()) + ", the model expects " + Arrays.toString(e.getValue().shape()));
                }
                e.getValue().assign(s);
            }
            copied++;
        }
        if (!missing.isEmpty()) {
            throw new UserError("weights " + sourceName + " lack " + missing.size() + " layer(s) of the model, first: "
                    + missing.get(0) + " (is it the right architecture?)");
        }
        return copied;
    }

    private static Layer sourceLayer(ComputationGraph source, String name) {
        GraphVertex v = source.getVertex(name);
        return v != null && v.hasLayer() ? v.getLayer() : null;
    }
}
