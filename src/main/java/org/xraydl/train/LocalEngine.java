package org.xraydl.train;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

import java.util.List;

/** Plain {@code ComputationGraph.fit()} on the current device. */
public class LocalEngine implements TrainingEngine {

    @Override
    public String name() {
        return "local";
    }

    @Override
    public boolean runsListenersInPlace() {
        return true;
    }

    @Override
    public void start(ComputationGraph net, List<TrainingListener> listeners) {
        net.setListeners(listeners);
    }

    @Override
    public long fitEpoch(ComputationGraph net, EpochData data) {
        DataSetIterator train = data.iterator().get();
        net.fit(train);
        return Trainer.imagesSeen(train);
    }
}
