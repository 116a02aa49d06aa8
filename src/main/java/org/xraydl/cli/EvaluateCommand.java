package org.xraydl.cli;

import org.xraydl.UserError;
import org.xraydl.data.ClassLabels;
import org.xraydl.data.DecodePool;
import org.xraydl.data.ImageFolder;
import org.xraydl.data.ImageFolderScanner;
import org.xraydl.data.ImageIterators;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.xraydl.evaluate.Calibration;
import org.xraydl.evaluate.Evaluator;
import org.xraydl.evaluate.Metrics;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.evaluate.Predictions;
import org.xraydl.explain.HeatmapWriter;
import org.xraydl.predict.Predictor;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.report.Charts;
import org.xraydl.report.ConsoleTable;
import org.xraydl.run.JsonReports;
import org.xraydl.run.RunDirectory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Supplier;

@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = "Evaluate a trained model on any folder with class subfolders (a Kaggle tree uses its test/ split).")
public class EvaluateCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Model zip from a run (best.zip / last.zip)")
    Path model;
    @Option(names = "--data", required = true, description = "Folder with class subfolders, or a Kaggle chest_xray tree")
    Path data;
    @Option(names = "--json", description = "Write the metrics as JSON to this file")
    Path json;
    @Option(names = "--predictions", description = "Write per-image predictions as CSV to this file")
    Path predictions;
    @Option(names = "--threshold", defaultValue = ThresholdOption.STORED, description = ThresholdOption.DESCRIPTION)
    String threshold;
    @Option(names = "--tta", description = "Test-time augmentation: average the probabilities over shifted and zoomed crops (decided with the stored TTA threshold and temperature)")
    boolean tta;
    @Option(names = "--reliability", description = "Write the reliability diagram (PNG) to this file (default with --json: <json name>-reliability.png next to it)")
    Path reliability;
    @Option(names = "--batch", defaultValue = "16")
    int batch;
    @Option(names = "--heatmaps", paramLabel = "DIR", description = "Write Grad-CAM overlays of the misclassified images into DIR, most confident first")
    Path heatmaps;
    @Option(names = "--cam-layer", paramLabel = "NAME", description = "Layer for Grad-CAM (default: the last feature map before the classifier)")
    String camLayer;
    @Option(names = "--skip-bad", description = "Skip unreadable images (counted) instead of refusing")
    boolean skipBad;

    @Override
    public Integer call() {
        ModelBundle bundle = ModelBundle.load(model);
        ImageFolder folder = ImageFolderScanner.scan(data, "test", skipBad, 0);
        for (String l : folder.labels()) {
            if (!bundle.preprocessing().labels().contains(l)) {
                throw new UserError("class folder " + l + " in " + folder.root() + " is unknown to the model (it knows "
                        + bundle.preprocessing().labels() + ")");
            }
        }
        ThresholdOption t = ThresholdOption.resolve(threshold, bundle, model, tta);
        List<Supplier<DataSetIterator>> views;
        Predictions averaged;
        // The threshold and temperature come from the zip (chosen on the training run's validation split, on the same
        // kind of probabilities: plain or TTA), never from these data.
        double temperature = bundle.temperatureFor(tta);
        try (DecodePool decode = DecodePool.of(0)) { // one decoding thread per available processor, for this command
            views = ImageIterators.evaluationViews(folder.images(), bundle.preprocessing(), batch, tta, decode);
            averaged = Evaluator.predictAveraged(bundle.network(), views, bundle.preprocessing().labels());
        }
        Predictions p = Calibration.scale(averaged, temperature);
        Metrics m = MetricsCalculator.compute(p, ClassLabels.POSITIVE, t.value());
        Metrics atHalf = MetricsCalculator.compute(p, ClassLabels.POSITIVE, MetricsCalculator.DEFAULT_THRESHOLD);
        String how = String.format(Locale.ROOT, "threshold %s%s%s", t.source(), temperature != 1.0 ? String.format(Locale.ROOT, ", temperature %.3f", temperature) : "",
                tta ? ", TTA " + views.size() + " views" : "");
        System.out.print(ConsoleTable.metrics("Evaluation of " + model + " on " + folder.root() + " (" + how + ")", m));
        System.out.print(ConsoleTable.metrics("The same at threshold 0.5", atHalf));
        if (!folder.skipped().isEmpty()) {
            System.out.println("skipped unreadable images: " + folder.skipped().size());
        }
        if (json != null) {
            Map<String, Object> extra = new LinkedHashMap<>();
            extra.put("data", folder.root().toString());
            extra.put("model", model.toString());
            extra.put("skipped_unreadable", folder.skipped().size());
            extra.put("threshold_source", t.source());
            extra.put("temperature", temperature);
            extra.put("tta_views", views.size());
            extra.put("at_threshold_0.5", atHalf);
            org.xraydl.AtomicFiles.writeString(json, JsonReports.metricsJson(m, extra));
            System.out.println("metrics written to " + json);
        }
        Path diagram = reliability != null ? reliability
                : json != null ? json.resolveSibling(json.getFileName().toString().replaceFirst("\\.json$", "") + "-reliability.png") : null;
        if (diagram != null) {
            Charts.write(Charts.reliabilityChart(p, ClassLabels.POSITIVE, 1.0), diagram);
            System.out.println("reliability diagram written to " + diagram);
        }
        if (predictions != null) {
            org.xraydl.AtomicFiles.writeString(predictions, RunDirectory.predictionsCsv(p));
        }
        if (heatmaps != null) {
            writeMisclassifiedHeatmaps(bundle, p);
        }
        return 0;
    }

    private void writeMisclassifiedHeatmaps(ModelBundle bundle, Predictions p) {
        HeatmapWriter writer = new HeatmapWriter(bundle, camLayer, heatmaps);
        Predictor loader = new Predictor(bundle);
        List<Integer> wrong = HeatmapWriter.misclassifiedByConfidence(p);
        for (int rank = 1; rank <= wrong.size(); rank++) {
            int i = wrong.get(rank - 1);
            Path file = Path.of(p.files().get(i));
            int predicted = p.predictedClass(i);
            String name = HeatmapWriter.misclassifiedName(rank, p.labels().get(p.trueClass()[i]), p.labels().get(predicted),
                    p.probabilities()[i][predicted], file);
            try {
                writer.write(file, loader.input(file), predicted, name);
            } catch (java.io.IOException e) {
                throw new UserError("cannot read " + file + " for its heatmap: " + e.getMessage());
            }
        }
        System.out.println("heatmaps of " + wrong.size() + " misclassified images written to " + heatmaps);
    }
}
