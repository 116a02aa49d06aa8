package org.xraydl.train;

import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.transferlearning.TransferLearningHelper;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.xraydl.evaluate.Predictions;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Frozen trunk, no augmentation: the trunk's outputs are computed once with DL4J's
 * TransferLearningHelper and only the head is trained on them, so an epoch costs almost nothing.
 * The helper copies the head's parameters back into the full network after every fit; this engine
 * keeps the two graphs' iteration and epoch counts (learning-rate schedules) and the head's updater
 * state (Adam's moments) in step, so last.zip holds them and --resume continues with them.
 */
public class FeaturizedEngine implements TrainingEngine {
    private TransferLearningHelper helper;
    private DataSet trainFeatures;
    private List<DataSet> validationFeatures;
    private List<TrainingListener> listeners;

    @Override
    public String name() {
        return "featurized";
    }

    @Override
    public boolean runsListenersInPlace() {
        return true;
    }

    @Override
    public void start(ComputationGraph net, List<TrainingListener> listeners) {
        this.helper = new TransferLearningHelper(net);
        this.listeners = listeners;
        helper.unfrozenGraph().setListeners(listeners);
        // The helper's head graph starts at iteration 0; the learning-rate schedule counts the run's
        // iterations, which a resumed net carries in its configuration.
        copyCounts(net, helper.unfrozenGraph());
        // The head graph's updater starts at zero too: a resumed net carries the moments last.zip saved.
        UpdaterStates.copy(net, helper.unfrozenGraph());
    }

    /** Iteration and epoch counts (what DL4J's schedules read, and what last.zip stores) from one graph to the other. */
    private static void copyCounts(ComputationGraph from, ComputationGraph to) {
        to.getConfiguration().setIterationCount(from.getConfiguration().getIterationCount());
        to.getConfiguration().setEpochCount(from.getConfiguration().getEpochCount());
    }

    @Override
    public long fitEpoch(ComputationGraph net, EpochData data) {
        if (trainFeatures == null) {
            trainFeatures = DataSet.merge(featurize(data.iterator().get()));
        }
        trainFeatures.shuffle(data.config().seed() + data.epoch());
        List<DataSet> batches = trainFeatures.batchBy(data.config().batchSize());
        int cap = data.config().maxBatchesPerEpoch();
        if (cap > 0 && batches.size() > cap) {
            batches = batches.subList(0, cap);
        }
        helper.fitFeaturized(new ExistingDataSetIterator(batches));
        // The helper copies the head's parameters back, not the counts: without them last.zip says
        // iteration 0 and a --resume restarts the schedule.
        copyCounts(helper.unfrozenGraph(), net);
        // Nor the updater state: the full network's (what last.zip saves) would stay at zero.
        UpdaterStates.copy(helper.unfrozenGraph(), net);
        return batches.stream().mapToLong(DataSet::numExamples).sum();
    }

    @Override
    public Predictions validate(ComputationGraph net, Supplier<DataSetIterator> validation, List<String> labels) {
        if (validationFeatures == null) {
            validationFeatures = featurize(validation.get());
        }
        List<String> files = new ArrayList<>();
        List<Integer> truth = new ArrayList<>();
        List<double[]> probs = new ArrayList<>();
        for (DataSet ds : validationFeatures) {
            INDArray out = helper.outputFromFeaturized(ds.getFeatures());
            for (int i = 0; i < out.rows(); i++) {
                probs.add(out.getRow(i).toDoubleVector());
                truth.add(ds.getLabels().getRow(i).argMax().getInt(0));
                var meta = ds.getExampleMetaData();
                files.add(meta != null && i < meta.size()
                        ? ((org.datavec.api.records.metadata.RecordMetaData) meta.get(i)).getURI().getPath() : "");
            }
        }
        return new Predictions(List.copyOf(labels), files, truth.stream().mapToInt(Integer::intValue).toArray(),
                probs.toArray(new double[0][]));
    }

    private List<DataSet> featurize(DataSetIterator it) {
        List<DataSet> out = new ArrayList<>();
        while (it.hasNext()) {
            DataSet ds = it.next();
            DataSet f = helper.featurize(ds);
            f.setExampleMetaData(ds.getExampleMetaData());
            out.add(f);
        }
        return out;
    }
}
