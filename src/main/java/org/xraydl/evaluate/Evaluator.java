package org.xraydl.evaluate;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.datavec.api.records.metadata.RecordMetaData;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

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

    /**
     * Test-time augmentation: the predictions of every view (each an evaluation iterator over the same
     * files in the same order), class probabilities averaged per image. One view = {@link #predict}.
     */
    public static Predictions predictAveraged(ComputationGraph net, List<Supplier<DataSetIterator>> views, List<String> labels) {
        Predictions first = predict(net, views.get(0).get(), labels);
        if (views.size() == 1) {
            return first;
        }
        double[][] sum = new double[first.size()][];
        for (int i = 0; i < sum.length; i++) {
            sum[i] = first.probabilities()[i].clone();
        }
        for (Supplier<DataSetIterator> view : views.subList(1, views.size())) {
            Predictions v = predict(net, view.get(), labels);
            if (!v.files().equals(first.files())) {
                throw new IllegalStateException("test-time augmentation views saw different files");
            }
            for (int i = 0; i < sum.length; i++) {
                for (int k = 0; k < sum[i].length; k++) {
                    sum[i][k] += v.probabilities()[i][k];
                }
            }
        }
        for (double[] row : sum) {
            for (int k = 0; k < row.length; k++) {
                row[k] /= views.size();
            }
        }
        return new Predictions(first.labels(), first.files(), first.trueClass(), sum);
    }
}
