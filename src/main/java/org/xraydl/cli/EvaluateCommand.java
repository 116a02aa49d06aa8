package org.xraydl.cli;

import org.xraydl.UserError;
import org.xraydl.data.ClassLabels;
import org.xraydl.data.ImageFolder;
import org.xraydl.data.ImageFolderScanner;
import org.xraydl.data.ImageIterators;
import org.xraydl.evaluate.Evaluator;
import org.xraydl.evaluate.Metrics;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.evaluate.Predictions;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.report.ConsoleTable;
import org.xraydl.run.JsonReports;
import org.xraydl.run.RunDirectory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

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
    @Option(names = "--batch", defaultValue = "16")
    int batch;
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
        Predictions p = Evaluator.predict(bundle.network(),
                ImageIterators.evaluation(folder.images(), bundle.preprocessing(), batch), bundle.preprocessing().labels());
        Metrics m = MetricsCalculator.compute(p, ClassLabels.POSITIVE);
        System.out.print(ConsoleTable.metrics("Evaluation of " + model + " on " + folder.root(), m));
        if (!folder.skipped().isEmpty()) {
            System.out.println("skipped unreadable images: " + folder.skipped().size());
        }
        if (json != null) {
            Map<String, Object> extra = new LinkedHashMap<>();
            extra.put("data", folder.root().toString());
            extra.put("model", model.toString());
            extra.put("skipped_unreadable", folder.skipped().size());
            org.xraydl.AtomicFiles.writeString(json, JsonReports.metricsJson(m, extra));
            System.out.println("metrics written to " + json);
        }
        if (predictions != null) {
            org.xraydl.AtomicFiles.writeString(predictions, RunDirectory.predictionsCsv(p));
        }
        return 0;
    }
}
