package org.xraydl.explore;

import com.fasterxml.jackson.databind.JsonNode;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.XYChart;
import org.xraydl.UserError;
import org.xraydl.config.ConfigLoader;
import org.xraydl.data.ClassLabels;
import org.xraydl.evaluate.Metrics;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.evaluate.Predictions;
import org.xraydl.report.Charts;
import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A finished (or running) training run read from its folder: history.csv, metrics.json,
 * val_predictions.csv, config.yaml, provenance.json. Charts come from the run's own PNGs when
 * training wrote them ({@value Charts#LOSS_ACCURACY}, {@value Charts#ROC}, {@value Charts#CONFUSION})
 * and are at least as new as the data they show; otherwise {@link Charts} draws them from the files.
 */
public final class RunExplorer {
    /** A validation image the best model got wrong, with the probability it gave its (wrong) answer. */
    public record Misclassified(Path file, String trueLabel, String predicted, double confidence) {
    }

    private final Path dir;
    private final List<String> notes = new ArrayList<>();
    private Predictions predictions;

    private RunExplorer(Path dir) {
        this.dir = dir;
    }

    public static RunExplorer open(Path runDir) {
        if (!Files.isRegularFile(runDir.resolve(RunDirectory.HISTORY))) {
            throw new UserError("not a run folder: " + runDir + " (no " + RunDirectory.HISTORY + ")");
        }
        return new RunExplorer(runDir.toAbsolutePath().normalize());
    }

    public Path dir() {
        return dir;
    }

    public List<EpochRecord> history() {
        return RunDirectory.readHistory(dir.resolve(RunDirectory.HISTORY));
    }

    /** The run's configuration snapshot as key → value (as written, so newer keys never fail to load). */
    @SuppressWarnings("unchecked")
    public Map<String, Object> config() {
        Path yaml = dir.resolve(RunDirectory.CONFIG);
        if (!Files.isRegularFile(yaml)) {
            return Map.of();
        }
        try {
            return ConfigLoader.YAML.readValue(yaml.toFile(), LinkedHashMap.class);
        } catch (IOException e) {
            throw new UserError("cannot read " + yaml + ": " + e.getMessage());
        }
    }

    /** A few facts of the run: model, image size, batch, epochs, workers, engine, best epoch. */
    public Table summary() {
        Map<String, Object> c = config();
        JsonNode prov = json(RunDirectory.PROVENANCE);
        List<List<String>> rows = new ArrayList<>();
        rows.add(List.of("run folder", dir.toString()));
        for (String k : List.of("model", "weights", "imageSize", "batchSize", "epochs", "learningRate", "workers", "augment", "classWeights", "seed")) {
            if (c.containsKey(k)) {
                rows.add(List.of(k, String.valueOf(c.get(k))));
            }
        }
        if (prov != null) {
            for (String k : List.of("engine", "epochsCompleted", "bestEpoch")) {
                if (prov.hasNonNull(k)) {
                    rows.add(List.of(k, prov.get(k).asText()));
                }
            }
        }
        return new Table(List.of("key", "value"), rows);
    }

    public Table historyTable() {
        List<List<String>> rows = new ArrayList<>();
        for (EpochRecord r : history()) {
            rows.add(List.of(String.valueOf(r.epoch()), Table.num(r.trainLoss(), 4), Table.num(r.valLoss(), 4),
                    Table.num(r.valAccuracy(), 4), Table.num(r.valAuc(), 4), Table.num(r.valSensitivity(), 4),
                    Table.num(r.valSpecificity(), 4), Table.num(r.seconds(), 1), Table.num(r.imagesPerSecond(), 1)));
        }
        return new Table(List.of("epoch", "train loss", "val loss", "val accuracy", "val AUC", "val sensitivity",
                "val specificity", "seconds", "img/s"), rows);
    }

    /** Validation metrics of the best model (metrics.json, else computed from val_predictions.csv). */
    public Table metricsTable() {
        JsonNode m = json(RunDirectory.METRICS);
        List<List<String>> rows = new ArrayList<>();
        if (m != null) {
            for (String k : List.of("n", "accuracy", "sensitivity", "specificity", "precision", "f1", "auc", "loss")) {
                if (m.has(k)) {
                    rows.add(List.of(k, m.get(k).isNumber() ? Table.num(m.get(k).asDouble(), 4) : m.get(k).asText()));
                }
            }
        } else {
            Metrics x = MetricsCalculator.compute(predictions(), positive());
            rows.add(List.of("n", String.valueOf(x.n())));
            rows.add(List.of("accuracy", Table.num(x.accuracy(), 4)));
            rows.add(List.of("sensitivity", Table.num(x.sensitivity(), 4)));
            rows.add(List.of("specificity", Table.num(x.specificity(), 4)));
            rows.add(List.of("precision", Table.num(x.precision(), 4)));
            rows.add(List.of("f1", Table.num(x.f1(), 4)));
            rows.add(List.of("auc", Table.num(x.auc(), 4)));
        }
        return new Table(List.of("metric", "value"), rows);
    }

    /** Loss and accuracy per epoch, drawn by {@link Charts#lossAccuracyChart} from history.csv. */
    public XYChart lossAccuracyChart() {
        List<EpochRecord> h = history();
        if (h.isEmpty()) {
            throw new UserError("history.csv of " + dir + " has no epoch yet");
        }
        return Charts.lossAccuracyChart(h);
    }

    /** Loss and accuracy curves: the run's {@value Charts#LOSS_ACCURACY} when current, else {@link #lossAccuracyChart()}. */
    public BufferedImage lossAccuracy() {
        return pngOrDraw(Charts.LOSS_ACCURACY, RunDirectory.HISTORY, () -> Images.of(lossAccuracyChart()));
    }

    /** The validation predictions of the best model (val_predictions.csv). */
    public synchronized Predictions predictions() {
        if (predictions == null) {
            predictions = RunDirectory.readPredictions(dir.resolve(RunDirectory.PREDICTIONS));
        }
        return predictions;
    }

    /** The positive class of the metrics and the ROC curve: the project's one, {@link ClassLabels#POSITIVE}. */
    public String positive() {
        return ClassLabels.POSITIVE;
    }

    /** ROC curve of the validation predictions, drawn by {@link Charts#rocChart}. */
    public XYChart rocChart() {
        return Charts.rocChart(predictions(), positive());
    }

    /** ROC: the run's {@value Charts#ROC} when current, else {@link #rocChart()}. */
    public BufferedImage roc() {
        return pngOrDraw(Charts.ROC, RunDirectory.PREDICTIONS, () -> Images.of(rocChart()));
    }

    /** Validation confusion matrix: metrics.json's, else counted from val_predictions.csv. */
    public Charts.Confusion confusion() {
        Charts.Confusion fromMetrics = Charts.confusionOf(json(RunDirectory.METRICS));
        return fromMetrics != null ? fromMetrics : Charts.confusionOf(predictions());
    }

    /** The confusion matrix drawn by {@link Charts#confusionChart}. */
    public HeatMapChart confusionChart() {
        Charts.Confusion c = confusion();
        return Charts.confusionChart(c.labels(), c.counts());
    }

    /** Confusion matrix: the run's {@value Charts#CONFUSION} when current, else {@link #confusionChart()}. */
    public BufferedImage confusionMatrix() {
        String source = Files.isRegularFile(dir.resolve(RunDirectory.METRICS)) ? RunDirectory.METRICS : RunDirectory.PREDICTIONS;
        return pngOrDraw(Charts.CONFUSION, source, () -> Images.of(confusionChart()));
    }

    /** Validation images whose predicted class is wrong, the most confident mistakes first. */
    public List<Misclassified> misclassified() {
        Predictions p = predictions();
        List<Misclassified> out = new ArrayList<>();
        for (int i = 0; i < p.size(); i++) {
            int pred = p.predictedClass(i);
            if (pred != p.trueClass()[i]) {
                out.add(new Misclassified(Path.of(p.files().get(i)), p.labels().get(p.trueClass()[i]), p.labels().get(pred),
                        p.probabilities()[i][pred]));
            }
        }
        out.sort(Comparator.comparingDouble(Misclassified::confidence).reversed().thenComparing(m -> m.file().toString()));
        return out;
    }

    public Table misclassifiedTable(int max) {
        List<List<String>> rows = new ArrayList<>();
        for (Misclassified m : misclassified().subList(0, Math.min(max, misclassified().size()))) {
            rows.add(List.of(m.file().getFileName().toString(), m.trueLabel(), m.predicted(), Table.num(m.confidence(), 3)));
        }
        return new Table(List.of("file", "true class", "predicted", "confidence"), rows);
    }

    /** The {@code max} most confident mistakes as images, captioned with true → predicted class and confidence. */
    public BufferedImage misclassifiedGrid(int max, int columns, int tile) {
        List<Misclassified> all = misclassified();
        int n = Math.min(max, all.size());
        if (n == 0) {
            return Images.message("No misclassified validation images in " + dir.getFileName()
                    + " (" + predictions().size() + " predictions).", 700);
        }
        List<List<Images.Tile>> rows = new ArrayList<>();
        for (int i = 0; i < n; i += columns) {
            List<Images.Tile> row = new ArrayList<>();
            for (Misclassified m : all.subList(i, Math.min(n, i + columns))) {
                BufferedImage img = Files.isRegularFile(m.file()) ? Images.read(m.file()) : null;
                row.add(new Images.Tile(img, String.format(Locale.ROOT, "true %s → %s\nconfidence %.3f\n%s",
                        m.trueLabel(), m.predicted(), m.confidence(), img == null ? "(file missing) " + m.file().getFileName() : m.file().getFileName())));
            }
            rows.add(row);
        }
        return Images.grid(rows, null, tile);
    }

    /** Which charts were taken from the run's PNG files and which were drawn here, so far. */
    public List<String> notes() {
        return List.copyOf(notes);
    }

    private BufferedImage pngOrDraw(String png, String source, Supplier<BufferedImage> draw) {
        Path f = dir.resolve(png);
        Path src = dir.resolve(source);
        if (Files.isRegularFile(f) && Explore.modified(f).compareTo(Explore.modified(src)) >= 0) {
            try {
                BufferedImage img = ImageIO.read(f.toFile());
                if (img != null) {
                    notes.add(png + ": the run's own file");
                    return img;
                }
            } catch (IOException e) {
                // draw it instead
            }
        }
        notes.add(png + ": drawn from " + source + (Files.isRegularFile(f) ? " (the run's file is older than " + source + ")" : ""));
        return draw.get();
    }

    private JsonNode json(String name) {
        Path f = dir.resolve(name);
        if (!Files.isRegularFile(f)) {
            return null;
        }
        try {
            return ConfigLoader.JSON.readTree(f.toFile());
        } catch (IOException e) {
            throw new UserError("cannot read " + f + ": " + e.getMessage());
        }
    }
}
