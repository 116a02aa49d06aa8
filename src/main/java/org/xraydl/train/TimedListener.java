package org.xraydl.train;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.List;
import java.util.Map;

/** Forwards every callback to a DL4J listener and adds the time it took to {@link StageTimes.Stage#LISTENERS}. */
final class TimedListener implements TrainingListener {
    private final TrainingListener delegate;
    private final StageTimes times;

    TimedListener(TrainingListener delegate, StageTimes times) {
        this.delegate = delegate;
        this.times = times;
    }

    TrainingListener delegate() {
        return delegate;
    }

    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        times.time(StageTimes.Stage.LISTENERS, () -> delegate.iterationDone(model, iteration, epoch));
    }

    @Override
    public void onEpochStart(Model model) {
        times.time(StageTimes.Stage.LISTENERS, () -> delegate.onEpochStart(model));
    }

    @Override
    public void onEpochEnd(Model model) {
        times.time(StageTimes.Stage.LISTENERS, () -> delegate.onEpochEnd(model));
    }

    @Override
    public void onForwardPass(Model model, List<INDArray> activations) {
        times.time(StageTimes.Stage.LISTENERS, () -> delegate.onForwardPass(model, activations));
    }

    @Override
    public void onForwardPass(Model model, Map<String, INDArray> activations) {
        times.time(StageTimes.Stage.LISTENERS, () -> delegate.onForwardPass(model, activations));
    }

    @Override
    public void onGradientCalculation(Model model) {
        times.time(StageTimes.Stage.LISTENERS, () -> delegate.onGradientCalculation(model));
    }

    @Override
    public void onBackwardPass(Model model) {
        times.time(StageTimes.Stage.LISTENERS, () -> delegate.onBackwardPass(model));
    }
}
