package org.xraydl.cli;

import org.xraydl.UserError;
import org.xraydl.explain.HeatmapWriter;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.predict.PredictionJson;
import org.xraydl.predict.Predictor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "predict", mixinStandardHelpOptions = true,
        description = "Print one JSON line per image: class (decided with --threshold), confidence, probabilities, threshold "
                + "(an unreadable image gets an error line).")
public class PredictCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Model zip from a run (best.zip / last.zip)")
    Path model;
    @Option(names = "--heatmaps", paramLabel = "DIR", description = "Write a Grad-CAM overlay PNG per image into DIR (its path in the JSON as \"heatmap\")")
    Path heatmaps;
    @Option(names = "--cam-layer", paramLabel = "NAME", description = "Layer for Grad-CAM (default: the last feature map before the classifier)")
    String camLayer;
    @Option(names = "--cam-class", paramLabel = "LABEL", description = "Explain this class instead of the predicted one")
    String camClass;
    @Option(names = "--threshold", defaultValue = ThresholdOption.STORED, description = ThresholdOption.DESCRIPTION)
    String threshold;
    @Option(names = "--tta", description = "Test-time augmentation: average the probabilities over shifted and zoomed crops (decided with the stored TTA threshold and temperature)")
    boolean tta;
    @Parameters(arity = "1..*", paramLabel = "IMAGE_OR_FOLDER")
    List<Path> inputs;

    @Override
    public Integer call() throws java.io.IOException {
        ModelBundle bundle = ModelBundle.load(model);
        ThresholdOption t = ThresholdOption.resolve(threshold, bundle, model, tta);
        Predictor predictor = new Predictor(bundle, tta, t.value());
        HeatmapWriter heatmapWriter = heatmaps == null ? null : new HeatmapWriter(bundle, camLayer, heatmaps);
        int camClassIndex = camClass == null ? -1 : bundle.preprocessing().labels().indexOf(camClass);
        if (camClass != null && camClassIndex < 0) {
            throw new UserError("--cam-class " + camClass + " is not a class of the model (it knows " + bundle.preprocessing().labels() + ")");
        }
        List<Path> files = Predictor.expand(inputs);
        if (files.isEmpty()) {
            throw new UserError("no images found in " + inputs);
        }
        int failed = 0;
        for (Path f : files) {
            Predictor.Answer a = predictor.predict(f);
            Map<String, Object> line = PredictionJson.of(a);
            if (a.ok()) {
                if (tta) {
                    line.put("tta", true);
                }
                line.put("threshold_source", t.source()); // which rule decided: stored plain, stored TTA, or given
                if (heatmapWriter != null) { // the class decided (threshold included), or --cam-class
                    int explained = camClassIndex >= 0 ? camClassIndex : bundle.preprocessing().labels().indexOf(a.predictedClass());
                    line.put("heatmap", heatmapWriter.write(f, predictor.input(f), explained, HeatmapWriter.stemName(f)).toString());
                }
            } else {
                failed++;
            }
            System.out.println(PredictionJson.COMPACT.writeValueAsString(line));
        }
        if (failed > 0) {
            System.err.println("warning: " + failed + " of " + files.size() + " images could not be read");
            return 1;
        }
        return 0;
    }
}
