package org.xraydl.train;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;

/** Mean training loss (minibatch score) over an epoch; safe with several ParallelWrapper workers. */
public class LossMeter extends BaseTrainingListener implements java.io.Serializable {
    private double sum;
    private long count;

    @Override
    public synchronized void iterationDone(Model model, int iteration, int epoch) {
        double s = model.score();
        if (!Double.isNaN(s)) {
            sum += s;
            count++;
        }
    }

    public synchronized double meanAndReset() {
        double m = count == 0 ? Double.NaN : sum / count;
        sum = 0;
        count = 0;
        return m;
    }
}
