package org.xraydl.model;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.modelimport.keras.KerasModelImport;
import org.xraydl.UserError;

import java.nio.file.Path;

/** Keras .h5 files (e.g. Keras' DenseNet121 ImageNet weights) through DL4J's model import. */
public final class KerasWeights {

    private KerasWeights() {
    }

    public static ComputationGraph importGraph(Path h5) {
        try {
            return KerasModelImport.importKerasModelAndWeights(h5.toString(), false);
        } catch (Exception e) {
            throw new UserError("--weights " + h5 + " cannot be imported as a Keras model (" + e.getClass().getSimpleName()
                    + ": " + firstLine(e.getMessage()) + "): expected a Keras .h5 saved with model.save()");
        }
    }

    private static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("");
    }
}
