package org.xraydl.evaluate;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.datavec.api.records.metadata.RecordMetaData;

import java.util.ArrayList;
import java.util.List;

/** Runs a network over an evaluation iterator (inference mode) and collects its predictions. */
public final class Evaluator {

    private Evaluator() {
    }

    public static Predictions predict(ComputationGraph net, DataSetIterator it, List<String> labels) {
        List<String> files = new ArrayList<>();
        List<Integer> truth = new ArrayList<>();
        List<double[]> probs = new ArrayList<>();
        it.reset();
        while (it.hasNext()) {
            DataSet ds = it.next();
            INDArray out = net.outputSingle(false, ds.getFeatures());
            INDArray y = ds.getLabels();
            List<?> meta = ds.getExampleMetaData();
            for (int i = 0; i < out.rows(); i++) {
                probs.add(out.getRow(i).toDoubleVector());
                truth.add(y.getRow(i).argMax().getInt(0));
                files.add(meta != null && i < meta.size() ? ((RecordMetaData) meta.get(i)).getURI().getPath() : "");
            }
        }
        int[] t = truth.stream().mapToInt(Integer::intValue).toArray();
        return new Predictions(List.copyOf(labels), files, t, probs.toArray(new double[0][]));
    }
}
